import type { Caller } from "../../auth/caller.js";
import { ErrorReason, permissionDenied } from "../../errors/domain-error.js";
import { ConversationType } from "../../gen/im/v1/lifecycle_pb.js";
import type { Message } from "../../gen/im/v1/message_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { AfterRecallEvent } from "../../webhooks/index.js";
import type { RecallAccess } from "../kind.js";
import { messageNotFound, recalledEvent } from "../recall.js";
import { c2cUsersOf } from "./conversation-id.js";

/**
 * One-to-one recall: the sender recalls their own message (within the
 * window), an app admin any message; the other user may not. A conversation
 * the caller is not part of looks like one without the message.
 */
export async function c2cRecallAccess(
  caller: Caller,
  conversationId: string,
): Promise<RecallAccess<Message>> {
  const users = c2cUsersOf(conversationId);
  if (users === undefined || (!caller.isAdmin && !users.includes(caller.userId))) {
    throw messageNotFound();
  }
  return {
    authorityOver(message) {
      if (caller.isAdmin) return "any";
      if (message.fromUserId === caller.userId) return "own";
      throw permissionDenied(
        ErrorReason.RECALL_NOT_ALLOWED,
        "only the sender (or an app admin) may recall a one-to-one message",
      );
    },
  };
}

/** Both users' devices (every node) learn of the recall. */
export function deliverC2cRecalled(live: Pick<LiveHub, "publishToUser">, tombstone: Message): void {
  const event = recalledEvent(ConversationType.C2C, tombstone.conversationId, tombstone);
  live.publishToUser(tombstone.toUserId, event);
  live.publishToUser(tombstone.fromUserId, event);
}

export function c2cAfterRecallEvent(m: Message): AfterRecallEvent {
  return {
    case: "c2cAfterRecall",
    value: {
      $typeName: "im.v1.C2cAfterRecallEvent",
      fromAccount: m.fromUserId,
      toAccount: m.toUserId,
      seq: m.seq,
      msgKey: m.messageKey,
      msgTimeMs: m.timeMs,
      recalledByAccount: m.recall?.recalledByUserId ?? "",
      recalledAtMs: m.recall?.recalledAtMs ?? 0n,
    },
  };
}
