import {
  type EditOutcome,
  keysSettledBy,
  parseOutboxKey,
  type RecallOutcome,
  type SequencedMessage,
  type StoredMessage,
} from "../../conversations/store.js";

/**
 * The outbox marks of a memory message store (a send's, on the record; a
 * recall's and the latest edit's, here) and the recall and edit that set
 * them, shared by every kind's store. `byKey` holds the stored records
 * themselves, so a recall or edit replaces the message wherever the store indexes it.
 */
export function createMemoryOutboxMarks<M extends SequencedMessage, R extends StoredMessage<M>>(
  byKey: ReadonlyMap<string, R>,
  copy: (r: R) => R,
  cloneMessage: (m: M) => M,
) {
  const recallsPending = new Set<string>();
  /** Message key -> highest edit version whose mark is pending. */
  const editsPending = new Map<string, number>();
  /** The earliest outbox mark of a record; undefined: none. */
  const markTime = (r: R): number | undefined => {
    const { message } = r;
    const times: number[] = [];
    if (r.unpublished) times.push(Number(message.timeMs));
    if (recallsPending.has(message.messageKey) && message.recall !== undefined) {
      times.push(Number(message.recall.recalledAtMs));
    }
    if (editsPending.has(message.messageKey) && message.edit !== undefined) {
      times.push(Number(message.edit.editedAtMs));
    }
    return times.length === 0 ? undefined : Math.min(...times);
  };
  return {
    async markPublished(keys: readonly string[]): Promise<void> {
      for (const key of keys.flatMap(keysSettledBy)) {
        const k = parseOutboxKey(key);
        const r = byKey.get(k.messageKey);
        if (r === undefined) continue;
        if (k.stage === "send") r.unpublished = false;
        if (k.stage === "recall") recallsPending.delete(k.messageKey);
        if (k.stage === "edit" && (editsPending.get(k.messageKey) ?? 0) <= k.version) {
          editsPending.delete(k.messageKey);
        }
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
    async countUnpublished(beforeMs: number): Promise<number> {
      let n = 0;
      for (const r of byKey.values()) {
        const at = markTime(r);
        if (at !== undefined && at < beforeMs) n++;
      }
      return n;
    },
    async recallMessage(tombstone: M): Promise<RecallOutcome> {
      const r = byKey.get(tombstone.messageKey);
      if (r === undefined) return "not-found";
      if (r.message.recall !== undefined) return "already-recalled";
      r.message = cloneMessage(tombstone);
      recallsPending.add(tombstone.messageKey);
      // A recalled message's edits never go out.
      editsPending.delete(tombstone.messageKey);
      return "recalled";
    },
    async editMessage(edited: M): Promise<EditOutcome> {
      const r = byKey.get(edited.messageKey);
      if (r === undefined) return "not-found";
      if (r.message.recall !== undefined) return "recalled";
      const version = edited.edit?.version ?? 0;
      if ((r.message.edit?.version ?? 0) !== version - 1) return "stale";
      r.message = cloneMessage(edited);
      editsPending.set(edited.messageKey, version);
      return "edited";
    },
  };
}
