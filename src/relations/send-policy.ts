import type { C2CSendPolicy } from "../conversations/c2c/send-policy.js";
import { ErrorReason, permissionDenied } from "../errors/domain-error.js";
import type { RelationStore } from "./store.js";

/** The relation facts the send policy reads (cached on the hot path, see src/caches). */
export interface RelationLookups {
  /** The subset of `otherIds` that `ownerId` has blocked. */
  blockedAmong(ownerId: string, otherIds: readonly string[]): Promise<Set<string>>;
  /** The subset of `otherIds` that `ownerId` has as friends. */
  friendsAmong(ownerId: string, otherIds: readonly string[]): Promise<Set<string>>;
}

/** The lookups straight from the store. */
export function relationLookupsOf(
  store: Pick<RelationStore, "selectBlockedAmong" | "selectFriends">,
): RelationLookups {
  return {
    blockedAmong: (ownerId, otherIds) => store.selectBlockedAmong(ownerId, otherIds),
    friendsAmong: async (ownerId, otherIds) =>
      new Set((await store.selectFriends(ownerId, otherIds)).keys()),
  };
}

export interface RelationSendPolicyOptions {
  lookups: RelationLookups;
  /** Only two-way friends may message each other. */
  friendsOnly: boolean;
  /** What a message to a user who blocked the sender does. */
  blockedSend: "reject" | "drop-silently";
}

/**
 * The one-to-one permission policy of the relationship chain. The blocklist is
 * checked first: a blocked sender is refused (SENDER_BLOCKED) or, when configured,
 * told success while nothing is delivered. In friends-only mode each must have
 * the other as a friend (the reference's two-way check). Admin sends never get here.
 */
export function createRelationSendPolicy(options: RelationSendPolicyOptions): C2CSendPolicy {
  const { lookups, friendsOnly, blockedSend } = options;
  return async (fromUserId, toUserId) => {
    if ((await lookups.blockedAmong(toUserId, [fromUserId])).size > 0) {
      if (blockedSend === "drop-silently") return "drop-silently";
      throw permissionDenied(ErrorReason.SENDER_BLOCKED, "the recipient has blocked you");
    }
    if (friendsOnly) {
      const [senderHas, recipientHas] = await Promise.all([
        lookups.friendsAmong(fromUserId, [toUserId]),
        lookups.friendsAmong(toUserId, [fromUserId]),
      ]);
      if (!senderHas.has(toUserId) || !recipientHas.has(fromUserId)) {
        throw permissionDenied(
          ErrorReason.NOT_FRIENDS,
          "this app allows messages between friends only",
        );
      }
    }
    return "deliver";
  };
}
