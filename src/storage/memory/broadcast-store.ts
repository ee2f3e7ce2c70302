import type { BroadcastStore, BroadcastTaskRecord } from "../../push/broadcast-store.js";
import { labelsMatch, type UserLabels } from "../../push/labels.js";

export function createMemoryBroadcastStore(deps: {
  /** Every account's id (the audience of a broadcast to all). */
  accountIds(): Iterable<string>;
}): BroadcastStore {
  const labels = new Map<string, UserLabels & { version: number }>();
  const tasks = new Map<string, BroadcastTaskRecord>();
  /** Claim key -> when it was claimed. */
  const claims = new Map<string, number>();
  const copyLabels = (l: UserLabels & { version: number }) => ({
    tags: [...l.tags],
    attributes: { ...l.attributes },
    version: l.version,
  });
  const copyTask = (t: BroadcastTaskRecord): BroadcastTaskRecord => ({
    ...t,
    counts: { ...t.counts },
  });
  return {
    async selectUserLabels(userIds) {
      const out = new Map<string, UserLabels & { version: number }>();
      for (const id of userIds) {
        const l = labels.get(id);
        if (l !== undefined) out.set(id, copyLabels(l));
      }
      return out;
    },
    async replaceUserLabels(userId, version, next) {
      if ((labels.get(userId)?.version ?? 0) !== version) return false;
      labels.set(userId, {
        tags: [...next.tags],
        attributes: { ...next.attributes },
        version: version + 1,
      });
      return true;
    },
    async insertUserLabels(entries) {
      const stored = new Set<string>();
      for (const { userId, labels: next } of entries) {
        if (labels.has(userId)) continue;
        labels.set(userId, {
          tags: [...next.tags],
          attributes: { ...next.attributes },
          version: 1,
        });
        stored.add(userId);
      }
      return stored;
    },
    async selectAudiencePage(filter, afterUserId, limit) {
      const candidates =
        filter.kind === "all"
          ? [...deps.accountIds()]
          : [...labels].filter(([, l]) => labelsMatch(l, filter)).map(([id]) => id);
      return candidates
        .filter((id) => id > afterUserId)
        .sort()
        .slice(0, limit);
    },
    async insertBroadcast(task) {
      if (tasks.has(task.taskId)) throw new Error(`broadcast ${task.taskId} exists`);
      tasks.set(task.taskId, {
        ...task,
        state: "running",
        cursor: "",
        counts: { targeted: 0, onlineDelivered: 0, pushed: 0, failed: 0 },
        finishedAtMs: 0,
      });
    },
    async selectBroadcast(taskId) {
      const t = tasks.get(taskId);
      return t && copyTask(t);
    },
    async advanceBroadcast(taskId, from, to, add, finishedAtMs) {
      const t = tasks.get(taskId);
      if (t === undefined || t.state !== "running" || t.cursor !== from) return false;
      t.cursor = to;
      t.counts.targeted += add.targeted;
      t.counts.onlineDelivered += add.onlineDelivered;
      if (finishedAtMs !== undefined) {
        t.state = "done";
        t.finishedAtMs = finishedAtMs;
      }
      return true;
    },
    async addBroadcastPushCounts(taskId, add) {
      const t = tasks.get(taskId);
      if (t === undefined) return;
      t.counts.pushed += add.pushed;
      t.counts.failed += add.failed;
    },
    async cancelBroadcast(taskId, nowMs) {
      const t = tasks.get(taskId);
      if (t === undefined) return undefined;
      if (t.state === "running") {
        t.state = "cancelled";
        t.finishedAtMs = nowMs;
      }
      return copyTask(t);
    },
    async claimDeliveries(keys, nowMs) {
      const claimed = new Set<string>();
      for (const key of keys) {
        if (claims.has(key)) continue;
        claims.set(key, nowMs);
        claimed.add(key);
      }
      return claimed;
    },
    async deleteClaimsBefore(beforeMs) {
      for (const [key, atMs] of claims) if (atMs < beforeMs) claims.delete(key);
    },
  };
}
