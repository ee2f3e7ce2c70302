import { describe, expect, it } from "vitest";
import { generateUserSig, verifyUserSig } from "./usersig.js";
import { createVerifiedSigs } from "./verified-sigs.js";

const appId = 1400000001;
const secretKey = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const now = 1_700_000_000;
const sigOf = (userId: string, expireSec = 3600, issuedAtSec = now) =>
  generateUserSig({ appId, secretKey, userId, expireSec, issuedAtSec });
const failureOf = (r: ReturnType<typeof verifyUserSig>) => (r.ok ? "ok" : r.failure);

describe("verified UserSigs", () => {
  const make = (maxEntries = 10) =>
    createVerifiedSigs({ appId, secretKey, maxSkewSec: 300, maxEntries });

  it("answers as verifyUserSig does, first call and cached alike, at every time", () => {
    const sigs = make();
    const sig = sigOf("alice", 100);
    for (const nowSec of [now - 301, now - 300, now, now + 100, now + 101, now + 50]) {
      const expected = verifyUserSig({ sig, appId, secretKey, nowSec, maxSkewSec: 300 });
      expect(sigs.verify(sig, nowSec), `at ${nowSec - now}`).toEqual(expected);
    }
  });

  it("keeps a verified sig, and drops it once it has expired", () => {
    const sigs = make();
    const sig = sigOf("alice", 100);
    expect(failureOf(sigs.verify(sig, now))).toBe("ok");
    expect(sigs.size()).toBe(1);
    expect(failureOf(sigs.verify(sig, now + 100))).toBe("ok");
    expect(failureOf(sigs.verify(sig, now + 101))).toBe("SIG_EXPIRED");
    expect(sigs.size()).toBe(0);
    // Never kept again once expired.
    expect(failureOf(sigs.verify(sig, now + 102))).toBe("SIG_EXPIRED");
    expect(sigs.size()).toBe(0);
  });

  it("keeps no failures: wrong key, wrong app, malformed", () => {
    const sigs = make();
    const otherKey = generateUserSig({
      appId,
      secretKey: "another-key",
      userId: "alice",
      expireSec: 3600,
      issuedAtSec: now,
    });
    const otherApp = generateUserSig({
      appId: appId + 1,
      secretKey,
      userId: "alice",
      expireSec: 3600,
      issuedAtSec: now,
    });
    for (let i = 0; i < 2; i++) {
      expect(failureOf(sigs.verify(otherKey, now))).toBe("SIG_BAD_SIGNATURE");
      expect(failureOf(sigs.verify(otherApp, now))).toBe("SIG_WRONG_APP");
      expect(failureOf(sigs.verify("not a sig", now))).toBe("SIG_MALFORMED");
    }
    expect(sigs.size()).toBe(0);
  });

  it("holds at most maxEntries, the oldest dropped first; 0 keeps none", () => {
    const sigs = make(2);
    for (const user of ["a", "b", "c"]) expect(failureOf(sigs.verify(sigOf(user), now))).toBe("ok");
    expect(sigs.size()).toBe(2);
    const off = make(0);
    expect(failureOf(off.verify(sigOf("a"), now))).toBe("ok");
    expect(off.size()).toBe(0);
  });
});
