import type { Clock } from "../common/clock.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { seqFromRequest, timeMsFromRequest } from "../common/proto-numbers.js";
import type { HiddenForMe } from "./deleted-for-me.js";
import type { ConversationMessageStore, SequencedMessage } from "./store.js";

const SYNC_MAX = 100;
const HISTORY_DEFAULT = 20;
const HISTORY_MAX = 100;

/** What one reader may see of a conversation (its kind's visibility and their own deletes). */
export interface HistoryView {
  /** Seqs up to this are hidden from the reader (0: none). */
  hiddenUpTo: number;
  /** Further seqs the reader deleted for themselves (DeletedForMe). */
  deletedSeqs: readonly number[];
  /** The conversation's latest seq as the reader's kind knows it. */
  lastSeq: number;
}

/** The reader's view: the kind's hidden seqs and the reader's own deletes together. */
export const viewWith = (
  hidden: HiddenForMe,
  view: { hiddenUpTo: number; lastSeq: number },
): HistoryView => ({
  hiddenUpTo: Math.max(view.hiddenUpTo, hidden.clearedUpToSeq),
  deletedSeqs: hidden.deletedSeqs,
  lastSeq: view.lastSeq,
});

/**
 * Drops the reader's deleted seqs from a page. Paging follows the unfiltered
 * page (cursors, coverage), so a page may come back shorter than asked, even
 * empty with a cursor to continue: the hidden messages were there.
 */
const visibleOf = <M extends SequencedMessage>(messages: M[], deleted: readonly number[]): M[] =>
  deleted.length === 0 ? messages : messages.filter((m) => !deleted.includes(Number(m.seq)));

export interface HistoryPagesDeps<M extends SequencedMessage> {
  store: Pick<ConversationMessageStore<M>, "selectMessagesAfter" | "selectMessagesBefore">;
  clock: Clock;
  retentionMs: number;
}

/**
 * Sync and roaming history of any conversation kind, always within retention:
 * the paging, bounds and cursors written once; the kind says who may read
 * what (`HistoryView`).
 */
export function createHistoryPages<M extends SequencedMessage>(deps: HistoryPagesDeps<M>) {
  const { store, clock } = deps;
  const oldestVisible = () => clock() - deps.retentionMs;
  return {
    oldestVisible,

    /** Fills a gap: ascending by seq; `coveredUpToSeq` says how far the answer is complete. */
    async sync(
      conversationId: string,
      req: { afterSeq: bigint; upToSeq: bigint; limit: number },
      view: HistoryView,
    ) {
      const limit = pageSize(req.limit, SYNC_MAX, SYNC_MAX);
      const afterSeq = Math.max(seqFromRequest(req.afterSeq, "after_seq"), view.hiddenUpTo);
      const upToSeq = seqFromRequest(req.upToSeq, "up_to_seq");
      const found = await store.selectMessagesAfter(
        conversationId,
        { afterSeq, upToSeq, minTimeMs: oldestVisible() },
        limit + 1,
      );
      const hasMore = found.length > limit;
      const messages = found.slice(0, limit);
      const lastReturned = Number(messages.at(-1)?.seq ?? 0);
      const lastSeq = Math.max(view.lastSeq, lastReturned);
      const bound = upToSeq === 0 ? lastSeq : Math.min(upToSeq, lastSeq);
      return {
        messages: visibleOf(messages, view.deletedSeqs),
        coveredUpToSeq: BigInt(hasMore ? lastReturned : Math.max(bound, lastReturned, afterSeq)),
        hasMore,
        lastSeq: BigInt(lastSeq),
      };
    },

    /** History newest first; the cursor carries the seq to continue below. */
    async list(
      conversationId: string,
      req: {
        beforeSeq: bigint;
        minTimeMs: bigint;
        maxTimeMs: bigint;
        page?: { pageSize: number; cursor: string };
      },
      view: Pick<HistoryView, "hiddenUpTo" | "deletedSeqs">,
    ) {
      const limit = pageSize(req.page?.pageSize ?? 0, HISTORY_DEFAULT, HISTORY_MAX);
      const cursor = decodeCursor(req.page?.cursor ?? "", { s: "number" });
      const requested = seqFromRequest(req.beforeSeq, "before_seq");
      const beforeSeq =
        cursor === undefined
          ? requested
          : requested === 0
            ? cursor.s
            : Math.min(cursor.s, requested);
      const messages = await store.selectMessagesBefore(
        conversationId,
        {
          aboveSeq: view.hiddenUpTo,
          beforeSeq,
          minTimeMs: Math.max(timeMsFromRequest(req.minTimeMs, "min_time_ms"), oldestVisible()),
          maxTimeMs:
            req.maxTimeMs === 0n ? clock() : timeMsFromRequest(req.maxTimeMs, "max_time_ms"),
        },
        limit,
      );
      const last = messages.at(-1);
      const nextCursor =
        messages.length === limit && last ? encodeCursor({ s: Number(last.seq) }) : "";
      return { messages: visibleOf(messages, view.deletedSeqs), nextCursor };
    },
  };
}

export type HistoryPages<M extends SequencedMessage> = ReturnType<typeof createHistoryPages<M>>;
