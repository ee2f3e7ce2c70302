import { createBlocklist } from "./blocklist.js";
import { createRelationContext, type RelationsDeps } from "./context.js";
import { createFriendLists } from "./friend-lists.js";
import { createFriends } from "./friends.js";

/** The relationship chain: the domain side of RelationService. */
export function createRelations(deps: RelationsDeps) {
  const ctx = createRelationContext(deps);
  return {
    actor: ctx.actor,
    friends: createFriends(ctx),
    lists: createFriendLists(ctx),
    blocklist: createBlocklist(ctx),
    /** Users who have `userId` as a friend: they see its profile changes. */
    profileWatchers: (userId: string) => deps.store.selectFriendOwners(userId),
  };
}

export type Relations = ReturnType<typeof createRelations>;
