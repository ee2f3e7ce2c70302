import type { Message } from "../../gen/im/v1/message_pb.js";
import type { ClaimStore, ConversationMessageStore, StoredMessage } from "../store.js";

/** A stored one-to-one message (dedup key: sender, recipient, client id or random). */
export interface MessageRecord extends StoredMessage<Message> {
  /** Fan-out flag kept for outbox republishing: the conversation lists keep their last message. */
  noLastMessage: boolean;
}

/** Above any edit version: a recalled message's tombstone outranks all its versions. */
const RECALLED_RANK = 2 ** 31;
/** The order of one message's versions in the conversation lists: original, edits, tombstone. */
export const lastMessageRank = (m: Message): number =>
  m.recall !== undefined ? RECALLED_RANK : (m.edit?.version ?? 0);

/** `count` seqs of one conversation. */
export interface SeqRangeRequest {
  conversationId: string;
  count: number;
}

/** A fanned-out message as it touches one owner's conversation entry. */
export interface ConversationUpdate {
  ownerUserId: string;
  conversationId: string;
  peerUserId: string;
  seq: number;
  lastMessage: Message | undefined;
  timeMs: number;
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

/**
 * Storage port of one-to-one messaging: the conversation messages, their seq
 * counters, the per-owner conversation lists, and (for every kind) the send claims.
 */
export interface MessageStore extends ClaimStore, ConversationMessageStore<Message, MessageRecord> {
  /** Takes the next seq of a conversation (1 for the first). Strictly increasing, never reused. */
  allocateSeq(conversationId: string): Promise<number>;
  /**
   * Takes `count` consecutive seqs in each of several distinct conversations,
   * in as few round trips as the backend allows; returns the first seq of each
   * range, in order. Never hands a seq out twice within a process; across
   * processes on a backend without atomic updates (FerretDB) two ranges may
   * overlap, and the unique (conversation, seq) index rejects the second insert.
   */
  allocateSeqRanges(requests: readonly SeqRangeRequest[]): Promise<number[]>;
  /** Highest seq allocated in the conversation; 0 if none. */
  selectLastSeq(conversationId: string): Promise<number>;
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
   * order-proof: lastSeq and the time only grow, and the last message is the
   * highest of the stored one and `lastMessage` by (seq, `lastMessageRank`),
   * so a message's edits replace it in order and its recall for good.
   * `lastMessage` undefined keeps the previous last message.
   */
  upsertConversation(update: ConversationUpdate): Promise<void>;
  /**
   * `upsertConversation` for many entries in one round trip where the backend
   * allows (at most one update per owner and conversation is expected).
   */
  upsertConversations(updates: readonly ConversationUpdate[]): Promise<void>;
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
