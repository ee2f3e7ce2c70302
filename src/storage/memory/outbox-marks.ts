import {
  messageKeyOfOutboxKey,
  type RecallOutcome,
  type SequencedMessage,
  type StoredMessage,
} from "../../conversations/store.js";

/**
 * The outbox marks of a memory message store (a send's, on the record; a
 * recall's, here) and the recall that sets one, shared by every kind's store.
 * `byKey` holds the stored records themselves, so a recall replaces the
 * message wherever the store indexes it.
 */
export function createMemoryOutboxMarks<M extends SequencedMessage, R extends StoredMessage<M>>(
  byKey: ReadonlyMap<string, R>,
  copy: (r: R) => R,
  cloneMessage: (m: M) => M,
) {
  const recallsPending = new Set<string>();
  /** The earliest outbox mark of a record; undefined: none. */
  const markTime = (r: R): number | undefined => {
    const times: number[] = [];
    if (r.unpublished) times.push(Number(r.message.timeMs));
    if (recallsPending.has(r.message.messageKey) && r.message.recall !== undefined) {
      times.push(Number(r.message.recall.recalledAtMs));
    }
    return times.length === 0 ? undefined : Math.min(...times);
  };
  return {
    async markPublished(keys: readonly string[]): Promise<void> {
      for (const key of keys) {
        const messageKey = messageKeyOfOutboxKey(key);
        const r = byKey.get(messageKey);
        if (r === undefined) continue;
        r.unpublished = false;
        if (key !== messageKey) recallsPending.delete(messageKey);
      }
    },
    async selectUnpublished(beforeMs: number, limit: number): Promise<R[]> {
      return [...byKey.values()]
        .flatMap((r) => {
          const at = markTime(r);
          return at !== undefined && at < beforeMs ? [{ r, at }] : [];
        })
        .sort((a, b) => a.at - b.at)
        .slice(0, limit)
        .map(({ r }) => copy(r));
    },
    async recallMessage(tombstone: M): Promise<RecallOutcome> {
      const r = byKey.get(tombstone.messageKey);
      if (r === undefined) return "not-found";
      if (r.message.recall !== undefined) return "already-recalled";
      r.message = cloneMessage(tombstone);
      recallsPending.add(tombstone.messageKey);
      return "recalled";
    },
  };
}
