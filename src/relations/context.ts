import type { AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { assertUserId } from "../common/user-id.js";
import { ErrorReason, notFound, permissionDenied } from "../errors/domain-error.js";
import type { SubscribeResponse } from "../gen/im/v1/events_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { CustomFieldDef } from "../profiles/custom-fields.js";
import type { FriendRequestSettings } from "../profiles/profiles.js";
import type { ListNames } from "./relation-proto.js";
import type { RelationStore } from "./store.js";

export interface RelationLimits {
  friendMax: number;
  pendingRequestMax: number;
  friendListMax: number;
  blocklistMax: number;
  batchMax: number;
}

export interface RelationsDeps {
  store: RelationStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  /** The target's allow-type and the requester's admin-forbid-type live in profiles. */
  friendRequestSettings(userId: string): Promise<FriendRequestSettings>;
  limits: RelationLimits;
  customFields: readonly CustomFieldDef[];
  clock: Clock;
  events: Pick<LiveHub, "publishToUser">;
  /** New friend list ids; injected so tests can predict them. */
  newListId(): string;
}

/** The caller as the relationship chain sees it. */
export interface RelationCaller {
  userId: string;
  isAdmin: boolean;
}

/** What the friends, friend-list and blocklist parts share. */
export function createRelationContext(deps: RelationsDeps) {
  const { store, accounts } = deps;
  const customDefs = new Map(deps.customFields.map((f) => [f.name, f]));

  /** Throws USER_NOT_FOUND naming the first missing user's field. */
  const assertUsersExist = async (
    userIds: readonly string[],
    fieldOf: (index: number) => string,
  ): Promise<void> => {
    const existing = await accounts.selectExistingUserIds(userIds);
    const missing = userIds.findIndex((id) => !existing.has(id));
    if (missing !== -1) {
      throw notFound(ErrorReason.USER_NOT_FOUND, `user ${userIds[missing]} does not exist`, {
        field: fieldOf(missing),
      });
    }
  };

  return {
    ...deps,
    customDefs,
    assertUsersExist,

    /**
     * Whose relations a request acts on: the caller's, or (administrators only)
     * `asUserId`'s, which must be an existing account.
     */
    async actor(caller: RelationCaller, asUserId: string): Promise<string> {
      if (asUserId === "" || asUserId === caller.userId) return caller.userId;
      if (!caller.isAdmin) {
        throw permissionDenied(
          ErrorReason.ADMIN_REQUIRED,
          "only administrators act for other users",
          {
            field: "as_user_id",
          },
        );
      }
      assertUserId(asUserId, "as_user_id");
      await assertUsersExist([asUserId], () => "as_user_id");
      return asUserId;
    },

    async listNames(ownerId: string): Promise<ListNames> {
      return new Map((await store.selectFriendLists(ownerId)).map((l) => [l.listId, l.name]));
    },

    /** Ids of the owner's lists with these names; FRIEND_LIST_NOT_FOUND names the first unknown. */
    async listIdsByName(
      ownerId: string,
      names: readonly string[],
      field: string,
    ): Promise<string[]> {
      if (names.length === 0) return [];
      const byName = new Map(
        (await store.selectFriendLists(ownerId)).map((l) => [l.name, l.listId]),
      );
      return [
        ...new Set(
          names.map((name, i) => {
            const id = byName.get(name);
            if (id === undefined) {
              throw notFound(ErrorReason.FRIEND_LIST_NOT_FOUND, `no friend list named ${name}`, {
                field: `${field}[${i}]`,
              });
            }
            return id;
          }),
        ),
      ];
    },

    publish(userId: string, event: SubscribeResponse): void {
      deps.events.publishToUser(userId, event);
    },
  };
}

export type RelationContext = ReturnType<typeof createRelationContext>;
