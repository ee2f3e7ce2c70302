import type { C2CSendPolicy } from "../conversations/c2c/send-policy.js";
import { ErrorReason, permissionDenied } from "../errors/domain-error.js";
import type { RelationStore } from "./store.js";

export interface RelationSendPolicyOptions {
  store: Pick<RelationStore, "selectBlockedAmong" | "selectFriends">;
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
  const { store, friendsOnly, blockedSend } = options;
  return async (fromUserId, toUserId) => {
    if ((await store.selectBlockedAmong(toUserId, [fromUserId])).size > 0) {
      if (blockedSend === "drop-silently") return "drop-silently";
      throw permissionDenied(ErrorReason.SENDER_BLOCKED, "the recipient has blocked you");
    }
    if (friendsOnly) {
      const [senderHas, recipientHas] = await Promise.all([
        store.selectFriends(fromUserId, [toUserId]),
        store.selectFriends(toUserId, [fromUserId]),
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
