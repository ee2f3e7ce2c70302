import type { Caller } from "../../auth/caller.js";
import { ErrorReason, notFound, permissionDenied } from "../../errors/domain-error.js";
import { ConversationType } from "../../gen/im/v1/lifecycle_pb.js";
import type { Message } from "../../gen/im/v1/message_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { AfterRecallEvent } from "../../webhooks/index.js";
import type { RecallAccess } from "../kind.js";
import { messageNotFound, recalledEvent } from "../recall.js";
import { c2cUsersOf } from "./conversation-id.js";
import type { MessageStore } from "./store.js";

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

/**
 * One of the two users' standing for deleting for themselves (app admins
 * have no view of their own here); the conversation's latest seq.
 */
export async function c2cParticipantView(
  store: Pick<MessageStore, "selectLastSeq">,
  caller: Caller,
  conversationId: string,
): Promise<{ lastSeq: number }> {
  if (!c2cUsersOf(conversationId)?.includes(caller.userId)) {
    throw notFound(ErrorReason.MESSAGE_NOT_FOUND, "not a conversation of yours", {
      field: "conversation_id",
    });
  }
  return { lastSeq: await store.selectLastSeq(conversationId) };
}

/** Both users' devices (every node) learn of the recall. */
export function deliverC2cRecalled(
  live: Pick<LiveHub, "publishToUsers">,
  tombstone: Message,
): void {
  const event = recalledEvent(ConversationType.C2C, tombstone.conversationId, tombstone);
  live.publishToUsers([tombstone.toUserId, tombstone.fromUserId], event);
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
