import { clone, create, type Message as ProtoMessage } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason, notFound } from "../errors/domain-error.js";
import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { ConversationType } from "../gen/im/v1/lifecycle_pb.js";
import type { OfflinePushInfo } from "../gen/im/v1/message_pb.js";
import { type MessageRecall, MessageRecallSchema } from "../gen/im/v1/recall_pb.js";
import type { ConversationKind } from "./kind.js";
import type { Outbox } from "./outbox.js";
import type { RecallOutcome, SequencedMessage, StoredMessage } from "./store.js";

export interface RecallDeps<R> {
  /** The kind's outbox: a recall is published through it like a message. */
  outbox: Pick<Outbox<R>, "publish">;
  clock: Clock;
  /** How long after its time a sender may recall their own message. */
  recallWindowMs: number;
}

export interface RecallResult {
  recall: MessageRecall;
  alreadyRecalled: boolean;
}

export interface Recaller {
  /**
   * Recalls the message at (conversation, seq) for everyone: authorisation by
   * the kind, the window for a sender's own message, the tombstone stored with
   * its outbox mark, then published (outbox -> bus -> fan-out, like a message,
   * so a crash after the answer still reaches every device). Idempotent.
   */
  recall(caller: Caller, conversationId: string, seq: number): Promise<RecallResult>;
}

export const messageNotFound = (): DomainError =>
  notFound(ErrorReason.MESSAGE_NOT_FOUND, "no such message in this conversation", {
    field: "seq",
  });

/** The recall or edit window of a sender's own message: throws `reason` once it has passed. */
export function requireWithinWindow(
  what: "recall" | "edit",
  reason: ErrorReason,
  windowMs: number,
  message: SequencedMessage,
  nowMs: number,
): void {
  if (nowMs - Number(message.timeMs) > windowMs) {
    throw new DomainError(
      "failed-precondition",
      reason,
      `the ${what} window (${windowMs} ms after the message) has passed`,
      { field: "seq" },
    );
  }
}

/** A kind's generated message with the content a recall removes and an edit replaces. */
export interface ContentMessage extends ProtoMessage, SequencedMessage {
  body: MessageElement[];
  cloudCustomData: string;
  offlinePushInfo?: OfflinePushInfo | undefined;
}

/** `message` as a tombstone (for every kind): content removed, `recall` set. */
export function tombstoneOf<M extends ContentMessage>(
  schema: GenMessage<M>,
  message: M,
  recall: MessageRecall,
): M {
  const tombstone = clone(schema, message);
  tombstone.body = [];
  tombstone.cloudCustomData = "";
  tombstone.offlinePushInfo = undefined;
  tombstone.recall = recall;
  return tombstone;
}

/** Recall, written once for every conversation kind. */
export function createRecaller<Req, M extends SequencedMessage, R extends StoredMessage<M>, Res>(
  kind: ConversationKind<Req, M, R, Res>,
  deps: RecallDeps<R>,
): Recaller {
  const { clock } = deps;
  return {
    async recall(caller, conversationId, seq) {
      const access = await kind.recallAccess(caller, conversationId);
      const record = await kind.store.selectMessage(conversationId, seq);
      if (record === undefined) throw messageNotFound();
      const authority = access.authorityOver(record.message);
      if (record.message.recall !== undefined) {
        return { recall: record.message.recall, alreadyRecalled: true };
      }
      const now = clock();
      if (authority === "own") {
        requireWithinWindow(
          "recall",
          ErrorReason.RECALL_WINDOW_PASSED,
          deps.recallWindowMs,
          record.message,
          now,
        );
      }
      const recall = create(MessageRecallSchema, {
        recalledByUserId: caller.userId,
        recalledAtMs: BigInt(now),
      });
      const outcome = await storeTombstone(kind, deps.outbox, record, recall);
      if (outcome === "not-found") throw messageNotFound();
      if (outcome === "already-recalled") {
        // A racing recall won: answer with its tombstone.
        const won = await kind.store.selectMessage(conversationId, seq);
        return { recall: won?.message.recall ?? recall, alreadyRecalled: true };
      }
      return { recall, alreadyRecalled: false };
    },
  };
}

/**
 * Turns a stored message into its tombstone (a recall, or a delete for
 * everyone) and publishes it through the kind's outbox: the one path of both,
 * so history, sync, the lists, unread and fan-out treat them alike.
 */
export async function storeTombstone<M extends SequencedMessage, R extends StoredMessage<M>>(
  kind: Pick<ConversationKind<unknown, M, R, unknown>, "store" | "tombstoneOf">,
  outbox: Pick<Outbox<R>, "publish">,
  record: R,
  recall: MessageRecall,
): Promise<RecallOutcome> {
  const tombstone = kind.tombstoneOf(record.message, recall);
  const outcome = await kind.store.recallMessage(tombstone);
  if (outcome === "recalled") outbox.publish({ ...record, message: tombstone, unpublished: true });
  return outcome;
}

/** The `recalled` event of a tombstone (`deleted` for a delete for everyone), for every kind. */
export function recalledEvent(
  conversationType: ConversationType,
  conversationId: string,
  tombstone: SequencedMessage & { fromUserId: string },
): SubscribeResponse {
  const { seq, messageKey, fromUserId, recall } = tombstone;
  const where = { conversationType, conversationId, seq, messageKey, fromUserId };
  return create(SubscribeResponseSchema, {
    event:
      recall?.deletedForEveryone === true
        ? { case: "deleted", value: { ...where, deletion: recall } }
        : { case: "recalled", value: { ...where, recall } },
  });
}
