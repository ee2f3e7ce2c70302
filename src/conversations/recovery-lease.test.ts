import { describe, expect, it } from "vitest";
import type { Kv } from "../bus/index.js";
import { createMemoryBus, createMemoryHub } from "../bus/index.js";
import { silentLogger } from "../log/logger.js";
import { createRecoveryLease } from "./recovery-lease.js";

const TTL_MS = 3_000;

describe("outbox recovery lease", () => {
  it("is held by one node at a time and taken over once its holder stops renewing", async () => {
    const now = { ms: 0 };
    const clock = () => now.ms;
    const hub = createMemoryHub();
    const lease = () => {
      const bus = createMemoryBus({ clock, logger: silentLogger, hub });
      return createRecoveryLease({
        openKv: () => bus.openKv("outbox-lease", { ttlMs: TTL_MS }),
        ttlMs: TTL_MS,
        clock,
        logger: silentLogger,
      });
    };
    const [a, b] = [lease(), lease()];
    expect([await a.holds(), await b.holds()]).toEqual([true, false]);
    // a renews on every pass: b never gets it.
    for (let i = 0; i < 5; i++) {
      now.ms += TTL_MS / 2;
      expect([await a.holds(), await b.holds()]).toEqual([true, false]);
    }
    // a stops (its node died): the entry lapses and b takes over.
    now.ms += TTL_MS + 1;
    expect(await b.holds()).toBe(true);
    now.ms += TTL_MS / 2;
    expect(await a.holds()).toBe(false);
  });

  it("answers yes when the bucket cannot be reached (a second republisher costs a duplicate only)", async () => {
    const lease = createRecoveryLease({
      openKv: (): Promise<Kv> => Promise.reject(new Error("bus unreachable")),
      ttlMs: TTL_MS,
      clock: () => 0,
      logger: silentLogger,
    });
    expect(await lease.holds()).toBe(true);
  });
});
