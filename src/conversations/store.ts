import type { MessageEdit, MessageRecall } from "../gen/im/v1/recall_pb.js";

/**
 * The storage ports every conversation kind shares. A kind's store (one-to-one
 * messages, group messages) extends `ConversationMessageStore` with what only
 * that kind needs; the pipeline speaks only this port, so sequencing, storage,
 * the outbox, idempotency and history paging are written once.
 */

/** What the pipeline needs of a kind's message: its place in the conversation. */
export interface SequencedMessage {
  seq: bigint;
  /** "<conversation id>:<seq>": the message's id and the bus dedup id. */
  messageKey: string;
  timeMs: bigint;
  /** Set once the message was recalled: it is then a tombstone. */
  recall?: MessageRecall | undefined;
  /** Set once the message was edited: its latest version. */
  edit?: MessageEdit | undefined;
}

/** Above any edit version: a recalled message's tombstone outranks all its versions. */
const RECALLED_RANK = 2 ** 31;
/** The order of one message's versions: original, edits, tombstone. */
export const versionRank = (m: SequencedMessage): number =>
  m.recall !== undefined ? RECALLED_RANK : (m.edit?.version ?? 0);

/** A stored message and the fields the store indexes. */
export interface StoredMessage<M extends SequencedMessage> {
  message: M;
  /** Idempotency key of the send; undefined: none given. */
  dedupKey: string | undefined;
  /** Outbox mark: true until the message is known to be on the bus. */
  unpublished: boolean;
  /** Fan-out flags kept for outbox republishing. */
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
}

/** What became of `recallMessage`. */
export type RecallOutcome = "recalled" | "already-recalled" | "not-found";
/** What became of `editMessage`. */
export type EditOutcome = "edited" | "recalled" | "stale" | "not-found";

/**
 * Outbox and bus keys. A message is published under its key; its recall and
 * each edit under keys of their own, so the bus's duplicate window does not
 * swallow a recall or an edit published moments after the message.
 */
export const recallKeyOf = (messageKey: string): string => `${messageKey}#recall`;
export const editKeyOf = (messageKey: string, version: number): string =>
  `${messageKey}#edit${version}`;

/** What an outbox key stands for. Message keys end in ":<seq>", so a suffix is unambiguous. */
export type OutboxKeyStage =
  | { stage: "send" }
  | { stage: "recall" }
  | { stage: "edit"; version: number };
export function parseOutboxKey(key: string): { messageKey: string } & OutboxKeyStage {
  const m = /^(.*:\d+)#(recall|edit(\d+))$/.exec(key);
  if (m === null) return { messageKey: key, stage: "send" };
  const messageKey = m[1] as string;
  return m[2] === "recall"
    ? { messageKey, stage: "recall" }
    : { messageKey, stage: "edit", version: Number(m[3]) };
}
/**
 * The outbox key a record is published under: its recall's once it is a
 * tombstone, else its latest edit's once edited.
 */
export const outboxKeyOf = (message: SequencedMessage): string =>
  message.recall !== undefined
    ? recallKeyOf(message.messageKey)
    : message.edit !== undefined
      ? editKeyOf(message.messageKey, message.edit.version)
      : message.messageKey;
/**
 * The outbox marks that publishing `key` settles: the record published is the
 * message as it stood then, so the message's own mark and its edits' up to
 * that version need no publishing of their own. (A recall removes the edits'
 * marks when it is stored: a recalled message's edits never go out.)
 */
export function keysSettledBy(key: string): string[] {
  const k = parseOutboxKey(key);
  if (k.stage === "send") return [key];
  if (k.stage === "recall") return [k.messageKey, key];
  return [
    k.messageKey,
    ...Array.from({ length: k.version }, (_, i) => editKeyOf(k.messageKey, i + 1)),
  ];
}

/**
 * insertMessage found the (conversation, seq) taken. On a backend whose
 * counters are atomic this never happens; on FerretDB two processes can be
 * handed the same seq, and the caller takes a new one.
 */
export class SeqTakenError extends Error {
  constructor(readonly messageKey: string) {
    super(`seq already taken: ${messageKey}`);
    this.name = "SeqTakenError";
  }
}

/** What became of one record of `appendMessages`. */
export type AppendResult =
  | { kind: "stored" }
  /** Its (conversation, seq) exists: nothing of it was written; take a new seq. */
  | { kind: "seq-taken" }
  /** Any other write error of this item alone. */
  | { kind: "failed"; error: unknown };

/** `appendMessages` over one-by-one inserts: for backends without bulk writes. */
export async function appendOneByOne<R>(
  records: readonly R[],
  insert: (record: R) => Promise<void>,
): Promise<AppendResult[]> {
  return Promise.all(
    records.map(async (r): Promise<AppendResult> => {
      try {
        await insert(r);
        return { kind: "stored" };
      } catch (error) {
        return error instanceof SeqTakenError ? { kind: "seq-taken" } : { kind: "failed", error };
      }
    }),
  );
}

/** The messages of one conversation kind, unique per (conversation, seq). */
export interface ConversationMessageStore<
  M extends SequencedMessage,
  R extends StoredMessage<M> = StoredMessage<M>,
> {
  /** Inserts a message; throws SeqTakenError if its (conversation, seq) exists. */
  insertMessage(record: R): Promise<void>;
  /**
   * Inserts a batch of messages (each with its outbox mark) in as few round
   * trips as the backend allows, item by item: one item's taken seq or write
   * error does not stop the others. Returns one result per record, in order.
   * Throws only when nothing could be attempted (store unreachable).
   */
  appendMessages(records: readonly R[]): Promise<AppendResult[]>;
  /** The message stored under `dedupKey` at or after `sinceMs`, if any (the newest). */
  selectMessageByDedupKey(dedupKey: string, sinceMs: number): Promise<R | undefined>;
  /**
   * Clears the outbox marks of the given keys (`outboxKeyOf`) and those each
   * settles (`keysSettledBy`: a recall's key also the message's own mark, an
   * edit's also the message's and earlier edits'); unknown keys are ignored.
   */
  markPublished(keys: readonly string[]): Promise<void>;
  /**
   * Messages with an outbox mark older than `beforeMs` (the message's time for
   * its send, the recall's for a recall, the edit's for an edit), oldest
   * first, each once, as stored now (a recalled message as its tombstone, an
   * edited one as its latest version). A recall or edit mark the message does
   * not bear out (a crash between the two writes) is dropped.
   */
  selectUnpublished(beforeMs: number, limit: number): Promise<R[]>;
  /** How many messages are still marked unpublished with time before `beforeMs` (store-wide). */
  countUnpublished(beforeMs: number): Promise<number>;

  /** The stored record at (conversation, seq), or undefined; `unpublished` is not filled in. */
  selectMessage(conversationId: string, seq: number): Promise<R | undefined>;
  /**
   * Replaces the stored message with `tombstone` (same conversation and seq,
   * `recall` set) unless it was already recalled, with an outbox mark for the
   * recall (`recallKeyOf`, time: the recall's) written first. Atomic per
   * message: of two racing recalls one gets "recalled", the other
   * "already-recalled". Recalled messages no longer count toward unread.
   */
  recallMessage(tombstone: M): Promise<RecallOutcome>;
  /**
   * Replaces the stored message with `edited` (same conversation and seq,
   * `edit.version` one above the stored one's, 0 when never edited) unless it
   * was recalled ("recalled") or another edit got there first ("stale"), with
   * an outbox mark for the edit (`editKeyOf`, time: the edit's) written first.
   */
  editMessage(edited: M): Promise<EditOutcome>;
  /**
   * Messages with afterSeq < seq <= upToSeq (upToSeq 0: no upper bound) and
   * time >= minTimeMs, ascending by seq, at most `limit`.
   */
  selectMessagesAfter(
    conversationId: string,
    range: { afterSeq: number; upToSeq: number; minTimeMs: number },
    limit: number,
  ): Promise<M[]>;
  /**
   * Messages with aboveSeq < seq < beforeSeq (beforeSeq 0: no bound) and
   * minTimeMs <= time <= maxTimeMs, descending by seq, at most `limit`.
   */
  selectMessagesBefore(
    conversationId: string,
    range: { aboveSeq: number; beforeSeq: number; minTimeMs: number; maxTimeMs: number },
    limit: number,
  ): Promise<M[]>;
}

export type DedupClaim =
  /** The caller owns the key now and must send (or release it). */
  | { kind: "claimed" }
  /** Someone claimed it at `claimedAtMs`, within the window. */
  | { kind: "taken"; claimedAtMs: number };

export interface ClaimRequest {
  key: string;
  nowMs: number;
  windowMs: number;
}

/** The idempotency claims of every kind's sends, in one place. */
export interface ClaimStore {
  /**
   * Claims an idempotency key. A claim older than `windowMs` is stale and is
   * taken over. Atomic across processes.
   */
  claimDedupKey(key: string, nowMs: number, windowMs: number): Promise<DedupClaim>;
  /**
   * `claimDedupKey` for many keys in as few round trips as the backend allows;
   * one result per request, in order. Keys are expected to be distinct.
   */
  claimDedupKeys(requests: readonly ClaimRequest[]): Promise<DedupClaim[]>;
  /** Releases a claim (the send failed or was denied) so a retry is evaluated afresh. */
  releaseDedupKey(key: string): Promise<void>;
  /** Deletes claims older than `beforeMs`; returns how many. */
  deleteDedupKeysBefore(beforeMs: number): Promise<number>;
}

/** The key of a conversation's message: unique across kinds, the bus dedup id. */
export const messageKeyOf = (conversationId: string, seq: number): string =>
  `${conversationId}:${seq}`;
/**
 * The conversation (or group) and seq of a message key; undefined if `key` is
 * not one. Ids may hold ":", the seq never does.
 */
export function splitMessageKey(key: string): { conversationId: string; seq: number } | undefined {
  const m = /^(.+):(\d+)$/.exec(key);
  return m === null ? undefined : { conversationId: m[1] as string, seq: Number(m[2]) };
}
