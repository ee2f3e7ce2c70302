import { describe, expect, it } from "vitest";
import { sigExpired } from "./caller.js";
import { generateUserSig, verifyUserSig } from "./usersig.js";

describe("sigExpired", () => {
  // Streams end by sigExpired, new calls are refused by verifyUserSig: both
  // must call the same instant the end of a sig.
  it("agrees with verifyUserSig around the expiry, to the millisecond", () => {
    const appId = 1400000001;
    const secretKey = "k";
    const issuedAtSec = 1_700_000_000;
    const expireSec = 60;
    const sig = generateUserSig({ appId, secretKey, userId: "ann", expireSec, issuedAtSec });
    const expiresAtMs = (issuedAtSec + expireSec) * 1000;
    for (const nowMs of [expiresAtMs - 1, expiresAtMs, expiresAtMs + 999, expiresAtMs + 1000]) {
      const verified = verifyUserSig({ sig, appId, secretKey, nowSec: Math.floor(nowMs / 1000) });
      expect([nowMs, sigExpired(expiresAtMs, nowMs)]).toEqual([nowMs, !verified.ok]);
    }
    expect(sigExpired(expiresAtMs, expiresAtMs + 999)).toBe(false);
    expect(sigExpired(expiresAtMs, expiresAtMs + 1000)).toBe(true);
  });
});
