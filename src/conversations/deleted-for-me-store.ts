/**
 * What one user deleted of one conversation for themselves (any kind): one
 * small document per (owner, conversation), not a copy per message. Readers
 * hide seqs up to `clearedUpToSeq` and the seqs of `deletedSeqs`.
 */
export interface DeletedForMeRecord {
  ownerUserId: string;
  conversationId: string;
  /** Every seq up to and including this is hidden (0: none). */
  clearedUpToSeq: number;
  /** Further hidden seqs, ascending, each above `clearedUpToSeq`. */
  deletedSeqs: number[];
}

/** Storage port of deletes for oneself, shared by every conversation kind. */
export interface DeletedForMeStore {
  /** The owner's marks in the conversation, or undefined if they never deleted there. */
  selectDeletedForMe(
    ownerUserId: string,
    conversationId: string,
  ): Promise<DeletedForMeRecord | undefined>;
  /**
   * The owner's marks in several conversations (a conversation list page), in
   * one round trip where the backend allows; conversations without marks are
   * absent from the map.
   */
  selectDeletedForMeMany(
    ownerUserId: string,
    conversationIds: readonly string[],
  ): Promise<Map<string, DeletedForMeRecord>>;
  /**
   * Adds `seqs` to the owner's deleted set (creating the record); seqs at or
   * below the cleared seq and seqs already there change nothing. "full", with
   * nothing written, when the set would then hold more than `maxSeqs`. The cap
   * is checked on the stored set before the write: two racing calls may
   * together pass it by at most one batch. Returns the record after the write.
   */
  addDeletedSeqs(
    ownerUserId: string,
    conversationId: string,
    seqs: readonly number[],
    maxSeqs: number,
  ): Promise<DeletedForMeRecord | "full">;
  /**
   * Raises the owner's cleared seq to `upToSeq` (never lowers it; creating the
   * record) and drops deleted seqs at or below it. Returns the record after.
   */
  clearDeletedForMe(
    ownerUserId: string,
    conversationId: string,
    upToSeq: number,
  ): Promise<DeletedForMeRecord>;
  /**
   * Drops every user's marks in the conversation (a disbanded group whose id,
   * and seqs, a later group may reuse). Unknown conversations are ignored.
   */
  deleteDeletedForMe(conversationId: string): Promise<void>;
}

/** A record as readers use it: seqs at or below the cleared seq dropped (a racing clear may leave some). */
export function normalizeDeletedForMe(record: DeletedForMeRecord): DeletedForMeRecord {
  const cleared = record.clearedUpToSeq;
  const seqs = [...new Set(record.deletedSeqs.filter((s) => s > cleared))].sort((a, b) => a - b);
  return { ...record, deletedSeqs: seqs };
}
