import { describe, expect, it } from "vitest";
import { createMemoryWindowCounters } from "../bus/memory-window-counters.js";
import type { WindowCounters } from "../bus/window-counters.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import { silentLogger } from "../log/logger.js";
import { createRateLimiter } from "./rate-limiter.js";

const user = { userId: "alice", isAdmin: false, sigExpiresAtMs: 0, sigIssuedAtMs: 0 };
const admin = { ...user, userId: "root", isAdmin: true };

function limiter(counters: WindowCounters, now: { ms: number }) {
  return createRateLimiter({
    counters,
    settings: { windowMs: 10_000, max: { sends: 2, history: 0, sessions: 1, typing: 1 } },
    clock: () => now.ms,
    logger: silentLogger,
  });
}

describe("rate limiter", () => {
  it("refuses past the limit with RATE_LIMITED and the time left in the window", async () => {
    const now = { ms: 1_000_003_000 };
    const l = limiter(createMemoryWindowCounters(), now);
    await l.check(user, "sends");
    await l.check(user, "sends");
    const err = await l.check(user, "sends").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({
      kind: "resource-exhausted",
      reason: ErrorReason.RATE_LIMITED,
      retryAfterMs: 7_000,
    });
    now.ms += 7_000; // the next window
    await l.check(user, "sends");
  });

  it("does not count admins or classes set to 0", async () => {
    const l = limiter(createMemoryWindowCounters(), { ms: 0 });
    for (let i = 0; i < 5; i++) {
      await l.check(admin, "sessions");
      await l.check(user, "history");
    }
  });

  it("lets calls through when the counters cannot be reached", async () => {
    const down: WindowCounters = {
      increment: () => Promise.reject(new Error("bus unreachable")),
    };
    const l = limiter(down, { ms: 0 });
    for (let i = 0; i < 3; i++) await l.check(user, "sessions");
  });

  it("claims calls in shares: a busy user costs a counter round trip every few calls, none once limited", async () => {
    const shared = createMemoryWindowCounters();
    let roundTrips = 0;
    const counting: WindowCounters = {
      increment: (...args) => {
        roundTrips++;
        return shared.increment(...args);
      },
    };
    const busy = (counters: WindowCounters) =>
      createRateLimiter({
        counters,
        settings: { windowMs: 60_000, max: { sends: 64, history: 0, sessions: 0, typing: 0 } },
        clock: () => 0,
        logger: silentLogger,
      });
    const l = busy(counting);
    for (let i = 0; i < 64; i++) await l.check(user, "sends");
    expect(roundTrips).toBe(8);
    for (let i = 0; i < 3; i++) {
      await expect(l.check(user, "sends")).rejects.toMatchObject({
        reason: ErrorReason.RATE_LIMITED,
      });
    }
    expect(roundTrips).toBe(8);
  });

  it("lets a concurrent burst on each of two nodes share the limit (one claim at a time per node)", async () => {
    const shared = createMemoryWindowCounters();
    const slow: WindowCounters = {
      // A bus round trip: every concurrent check is waiting when it answers.
      increment: async (...args) => {
        await new Promise((r) => setImmediate(r));
        return shared.increment(...args);
      },
    };
    const nodes = [0, 1].map(() =>
      createRateLimiter({
        counters: slow,
        settings: { windowMs: 60_000, max: { sends: 80, history: 0, sessions: 0, typing: 0 } },
        clock: () => 0,
        logger: silentLogger,
      }),
    );
    const burst = nodes.flatMap((node) =>
      Array.from({ length: 30 }, () => node.check(user, "sends")),
    );
    await Promise.all(burst);
  });

  it("never lets the nodes of one counter grant more than the limit together", async () => {
    const shared = createMemoryWindowCounters();
    const nodes = [0, 1, 2].map(() =>
      createRateLimiter({
        counters: shared,
        settings: { windowMs: 60_000, max: { sends: 40, history: 0, sessions: 0, typing: 0 } },
        clock: () => 0,
        logger: silentLogger,
      }),
    );
    let allowed = 0;
    for (let i = 0; i < 100; i++) {
      const node = nodes[i % 3];
      if (node === undefined) throw new Error("no node");
      if (
        await node.check(user, "sends").then(
          () => true,
          () => false,
        )
      )
        allowed++;
    }
    // Shares of 5: each node may hold up to 4 unspent calls when the counter runs out.
    expect(allowed).toBeLessThanOrEqual(40);
    expect(allowed).toBeGreaterThanOrEqual(40 - 3 * 4);
  });
});
