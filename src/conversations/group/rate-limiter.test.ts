import { describe, expect, it } from "vitest";
import { GroupMessagePriority as P } from "../../gen/im/v1/group_pb.js";
import { ceilingOf, createGroupRateLimiter } from "./rate-limiter.js";

describe("group rate limiter", () => {
  it("gives each priority its ceiling of the per-second limit", () => {
    expect([P.HIGH, P.NORMAL, P.UNSPECIFIED, P.LOW].map((p) => ceilingOf(40, p))).toEqual([
      40, 36, 36, 32,
    ]);
    expect([P.HIGH, P.NORMAL, P.LOW].map((p) => ceilingOf(5, p))).toEqual([5, 5, 5]);
  });

  it("drops lower priorities first within a one-second window, per group", () => {
    let now = 10_000;
    const limiter = createGroupRateLimiter({ limit: 10, clock: () => now });
    const admitted = (p: P, n: number, group = "g") =>
      Array.from({ length: n }, () => limiter.admit(group, p)).filter(Boolean).length;
    expect(admitted(P.LOW, 10)).toBe(8);
    expect(admitted(P.NORMAL, 5)).toBe(1);
    expect(admitted(P.HIGH, 5)).toBe(1);
    expect(admitted(P.HIGH, 1, "other")).toBe(1);
    // The window slides: a second later everything is free again.
    now += 999;
    expect(admitted(P.HIGH, 1)).toBe(0);
    now += 1;
    expect(admitted(P.NORMAL, 20)).toBe(9);
  });

  it("forgets idle groups", () => {
    let now = 0;
    const limiter = createGroupRateLimiter({ limit: 1, clock: () => now });
    expect(limiter.admit("g", P.HIGH)).toBe(true);
    expect(limiter.admit("g", P.HIGH)).toBe(false);
    now = 20_000;
    expect(limiter.admit("h", P.HIGH)).toBe(true);
    expect(limiter.admit("g", P.HIGH)).toBe(true);
  });
});
