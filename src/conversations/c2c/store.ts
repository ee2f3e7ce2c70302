import type { Message } from "../../gen/im/v1/message_pb.js";

/** A stored one-to-one message and the fields the store indexes. */
export interface MessageRecord {
  message: Message;
  /** Idempotency key (sender, recipient, client id or random); undefined: none given. */
  dedupKey: string | undefined;
  /** Outbox mark: true until the message is known to be on the bus. */
  unpublished: boolean;
  /** Fan-out flags kept for outbox republishing. */
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
  noLastMessage: boolean;
}

/** One user's view of one conversation. */
export interface ConversationRecord {
  ownerUserId: string;
  conversationId: string;
  peerUserId: string;
  /** Highest seq seen by fan-out for this owner. */
  lastSeq: number;
  /** The last message that updates the list; undefined if none did. */
  lastMessage: Message | undefined;
  /** Read up to and including this seq. */
  readSeq: number;
  updatedAtMs: number;
}

export type DedupClaim =
  /** The caller owns the key now and must send (or release it). */
  | { kind: "claimed" }
  /** Someone claimed it at `claimedAtMs`, within the window. */
  | { kind: "taken"; claimedAtMs: number };

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

/** Storage port of one-to-one messaging. */
export interface MessageStore {
  /**
   * Claims an idempotency key. A claim older than `windowMs` is stale and is
   * taken over. Atomic across processes.
   */
  claimDedupKey(key: string, nowMs: number, windowMs: number): Promise<DedupClaim>;
  /** Releases a claim (the send failed or was denied) so a retry is evaluated afresh. */
  releaseDedupKey(key: string): Promise<void>;
  /** Deletes claims older than `beforeMs`; returns how many. */
  deleteDedupKeysBefore(beforeMs: number): Promise<number>;
  /** The message stored under `dedupKey` at or after `sinceMs`, if any. */
  selectMessageByDedupKey(dedupKey: string, sinceMs: number): Promise<MessageRecord | undefined>;

  /** Takes the next seq of a conversation (1 for the first). Strictly increasing, never reused. */
  allocateSeq(conversationId: string): Promise<number>;
  /** Highest seq allocated in the conversation; 0 if none. */
  selectLastSeq(conversationId: string): Promise<number>;
  /** Inserts a message; throws SeqTakenError if its (conversation, seq) exists. */
  insertMessage(record: MessageRecord): Promise<void>;
  /** Clears the outbox mark of the given message keys; unknown keys are ignored. */
  markPublished(messageKeys: readonly string[]): Promise<void>;
  /** Messages still marked unpublished with time before `beforeMs`, oldest first. */
  selectUnpublished(beforeMs: number, limit: number): Promise<MessageRecord[]>;

  /**
   * Messages with afterSeq < seq <= upToSeq (upToSeq 0: no upper bound) and
   * time >= minTimeMs, ascending by seq, at most `limit`.
   */
  selectMessagesAfter(
    conversationId: string,
    range: { afterSeq: number; upToSeq: number; minTimeMs: number },
    limit: number,
  ): Promise<Message[]>;
  /**
   * Messages with seq < beforeSeq (0: no bound) and minTimeMs <= time <= maxTimeMs,
   * descending by seq, at most `limit`.
   */
  selectMessagesBefore(
    conversationId: string,
    range: { beforeSeq: number; minTimeMs: number; maxTimeMs: number },
    limit: number,
  ): Promise<Message[]>;
  /**
   * Counts messages to `ownerUserId` with seq > afterSeq, time >= minTimeMs,
   * that count toward unread.
   */
  countUnread(
    conversationId: string,
    ownerUserId: string,
    afterSeq: number,
    minTimeMs: number,
  ): Promise<number>;

  /**
   * Records a fanned-out message in the owner's conversation. Idempotent and
   * order-proof: a seq at or below the stored lastSeq changes nothing.
   * `lastMessage` undefined keeps the previous last message.
   */
  upsertConversation(update: {
    ownerUserId: string;
    conversationId: string;
    peerUserId: string;
    seq: number;
    lastMessage: Message | undefined;
    timeMs: number;
  }): Promise<void>;
  /**
   * The owner's conversations, most recently updated first, starting after the
   * cursor position (exclusive), at most `limit`.
   */
  selectConversations(
    ownerUserId: string,
    after: { updatedAtMs: number; conversationId: string } | undefined,
    limit: number,
  ): Promise<ConversationRecord[]>;
  /** The owner's view of one conversation, or undefined if it has none. */
  selectConversation(
    ownerUserId: string,
    conversationId: string,
  ): Promise<ConversationRecord | undefined>;
  /**
   * Raises the owner's read seq to `readSeq` (never lowers it), creating the
   * conversation entry if needed. Returns the stored read seq.
   */
  updateReadSeq(
    ownerUserId: string,
    conversationId: string,
    peerUserId: string,
    readSeq: number,
  ): Promise<number>;
}
