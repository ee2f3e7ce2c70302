import type { DeletedForMeRecord, DeletedForMeStore } from "./deleted-for-me-store.js";

/** What one reader deleted of one conversation for themselves, as history and unread apply it. */
export interface HiddenForMe {
  /** Seqs up to and including this are hidden (0: none). */
  clearedUpToSeq: number;
  /** Further hidden seqs, ascending, each above `clearedUpToSeq`. */
  deletedSeqs: readonly number[];
}

export const nothingHidden: HiddenForMe = { clearedUpToSeq: 0, deletedSeqs: [] };

export const hiddenOf = (record: DeletedForMeRecord | undefined): HiddenForMe =>
  record === undefined
    ? nothingHidden
    : { clearedUpToSeq: record.clearedUpToSeq, deletedSeqs: record.deletedSeqs };

/** The reader's marks in one conversation (one exact-key read). */
export async function hiddenFor(
  store: Pick<DeletedForMeStore, "selectDeletedForMe">,
  ownerUserId: string,
  conversationId: string,
): Promise<HiddenForMe> {
  return hiddenOf(await store.selectDeletedForMe(ownerUserId, conversationId));
}

export const isHiddenForMe = (hidden: HiddenForMe, seq: number): boolean =>
  seq <= hidden.clearedUpToSeq || hidden.deletedSeqs.includes(seq);

/**
 * Unread and mention queries of a reader who read up to `readSeq`: above the
 * read and cleared seqs, without the deleted seqs (only those above matter,
 * which keeps the store's exclusion list short).
 */
export function unreadRangeOf(
  hidden: HiddenForMe,
  readSeq: number,
): { afterSeq: number; exceptSeqs: number[] } {
  const afterSeq = Math.max(readSeq, hidden.clearedUpToSeq);
  return { afterSeq, exceptSeqs: hidden.deletedSeqs.filter((s) => s > afterSeq) };
}
