import type { FollowedGroup } from "../live/live-hub.js";
import type { LookupCache } from "./lookup-cache.js";

/** The groups a user is in, as the live hub reads them when the user's first stream opens on a node. */
export type GroupsOf = (userId: string) => Promise<readonly FollowedGroup[]>;

/**
 * `groupsOf` with its answers cached per user: a device that reconnects (or a
 * second node the user streams to soon after) reads no memberships. The cache
 * drops a user on every join, exit or receive-option change of theirs and
 * empties on a disband (the live membership changes every node hears), so a
 * reopened stream follows what the store holds.
 */
export function createCachedGroupsOf(
  load: GroupsOf,
  cache: LookupCache<readonly FollowedGroup[]>,
): GroupsOf {
  return async (userId) => {
    let read: readonly FollowedGroup[] | undefined;
    const found = await cache.getMany([userId], async () => {
      read = await load(userId);
      return new Map([[userId, read]]);
    });
    return found.get(userId) ?? read ?? [];
  };
}
