/** One member's read of one receipt-requested group message. */
export interface GroupRead {
  groupId: string;
  /** The message's key, "<groupId>:<seq>". */
  messageKey: string;
  userId: string;
  /** When the read was recorded, ms. */
  timeMs: number;
  /** Until when the read must be kept (the message's retention). */
  expireAtMs: number;
}

/**
 * Storage port of receipts: one-to-one delivered watermarks and the readers
 * of group messages that asked for read receipts. (One-to-one read
 * watermarks are the conversation lists' read seqs: MessageStore.)
 */
export interface ReceiptStore {
  /**
   * Raises `ownerUserId`'s delivered seq in the conversation to `seq` (never
   * lowers it). Returns the stored seq before and after; both 0 when none was stored.
   */
  raiseDeliveredSeq(
    ownerUserId: string,
    conversationId: string,
    seq: number,
  ): Promise<{ before: number; after: number }>;
  /** `ownerUserId`'s delivered seq in the conversation; 0 when none. */
  selectDeliveredSeq(ownerUserId: string, conversationId: string): Promise<number>;

  /**
   * Records reads in as few round trips as the backend allows. Idempotent per
   * (message, user): a read already recorded is left as it was. Returns how
   * many were new.
   */
  insertGroupReads(reads: readonly GroupRead[]): Promise<number>;
  /** How many users read the message. */
  countGroupReads(messageKey: string): Promise<number>;
  /**
   * Readers of the message with userId strictly greater than `afterUserId`
   * ("" for the start), ascending, at most `limit`.
   */
  selectGroupReaders(messageKey: string, afterUserId: string, limit: number): Promise<string[]>;
  /** Which of `userIds` read the message. */
  selectGroupReadersAmong(messageKey: string, userIds: readonly string[]): Promise<Set<string>>;
  /** Deletes every read of the group's messages (disband: a later group may reuse the id and keys). */
  deleteGroupReads(groupId: string): Promise<void>;
}
