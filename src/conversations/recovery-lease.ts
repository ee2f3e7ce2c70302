import { randomUUID } from "node:crypto";
import type { Kv } from "../bus/index.js";
import type { Logger } from "../log/logger.js";

/** Which node runs the outboxes' store pass: one at a time, so each orphan is republished once. */
export interface RecoveryLease {
  /** Takes or renews the lease; true while this node holds it. */
  holds(): Promise<boolean>;
}

const KEY = "outbox.recovery";

/**
 * A lease in a KV bucket whose entries lapse after `ttlMs` unrenewed: the holder
 * renews it at its revision on every pass, others take it once it lapsed (its
 * holder died). Answers are reused for a third of the TTL, so the outboxes of
 * several kinds share one round trip. When the bucket cannot be reached the answer
 * is yes: republishing twice costs the bus a dropped duplicate, not republishing
 * could cost a message.
 */
export function createRecoveryLease(deps: {
  openKv: () => Promise<Kv>;
  ttlMs: number;
  clock: () => number;
  logger: Logger;
}): RecoveryLease {
  const node = new TextEncoder().encode(randomUUID());
  let kv: Promise<Kv> | undefined;
  let revision: number | undefined;
  let answer: { at: number; holds: Promise<boolean> } | undefined;

  const ask = async (): Promise<boolean> => {
    try {
      kv ??= deps.openKv();
      const bucket = await kv;
      if (revision !== undefined) revision = await bucket.update(KEY, node, revision);
      revision ??= await bucket.create(KEY, node);
      return revision !== undefined;
    } catch (err) {
      kv = undefined;
      revision = undefined;
      deps.logger.debug("outbox recovery lease unavailable; recovering anyway", { err });
      return true;
    }
  };

  return {
    holds() {
      const now = deps.clock();
      if (answer === undefined || now - answer.at >= deps.ttlMs / 3) {
        answer = { at: now, holds: ask() };
      }
      return answer.holds;
    },
  };
}
