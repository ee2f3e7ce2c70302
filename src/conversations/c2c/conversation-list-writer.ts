import { createGroupCommit } from "../group-commit.js";
import { type ConversationUpdate, lastMessageRank, type MessageStore } from "./store.js";

/**
 * Conversation-list updates of fanned-out messages, group-committed: the
 * updates that arrive while a batch is written go into the next one, merged
 * per (owner, conversation) so only the newest seq is written, in one
 * `upsertConversations` call (docs/architecture.md, "Batched writes").
 */
export interface ConversationListWriter {
  /** Resolves once the update (or a newer one of the same entry) is stored. */
  record(update: ConversationUpdate): Promise<void>;
}

export function createConversationListWriter(deps: {
  store: Pick<MessageStore, "upsertConversations">;
  maxBatch: number;
}): ConversationListWriter {
  const commit = createGroupCommit<ConversationUpdate, undefined>({
    maxBatch: deps.maxBatch,
    async write(updates) {
      await deps.store.upsertConversations(mergeConversationUpdates(updates));
      return updates.map(() => undefined);
    },
  });
  return { record: (update) => commit.submit(update) };
}

/** Whether `u` supersedes `kept`: a higher seq, or a later version of the same message. */
const supersedes = (u: ConversationUpdate, kept: ConversationUpdate): boolean =>
  u.seq > kept.seq ||
  (u.seq === kept.seq &&
    u.lastMessage !== undefined &&
    kept.lastMessage !== undefined &&
    lastMessageRank(u.lastMessage) > lastMessageRank(kept.lastMessage));

/**
 * Keeps the highest seq per (owner, conversation), and of one message its
 * latest version (edit, recall). An update without a last
 * message does not replace the last message an older one carries, so the
 * newest update carrying one is kept beside it.
 */
export function mergeConversationUpdates(
  updates: readonly ConversationUpdate[],
): ConversationUpdate[] {
  const newest = new Map<string, ConversationUpdate>();
  for (const u of updates) {
    const key = `${u.ownerUserId}\n${u.conversationId}\n${u.lastMessage === undefined ? "-" : "m"}`;
    const kept = newest.get(key);
    if (kept === undefined || supersedes(u, kept)) newest.set(key, u);
  }
  const merged: ConversationUpdate[] = [];
  for (const [key, u] of newest) {
    if (key.endsWith("\n-")) {
      // Redundant when the entry's newest update with a message is newer still.
      const withMessage = newest.get(`${key.slice(0, -1)}m`);
      if (withMessage !== undefined && withMessage.seq >= u.seq) continue;
    }
    merged.push(u);
  }
  return merged;
}
