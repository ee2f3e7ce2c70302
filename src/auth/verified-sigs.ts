import { createSecretKey, hash } from "node:crypto";
import {
  checkUserSigSignature,
  checkUserSigTime,
  type UserSigClaims,
  type UserSigResult,
} from "./usersig.js";

export interface VerifiedSigsOptions {
  appId: number;
  secretKey: string;
  maxSkewSec: number;
  /** Most sigs kept; the oldest go first. 0: every call verifies in full. */
  maxEntries: number;
}

/** verifyUserSig with the sigs that passed its signature check remembered until they expire. */
export interface VerifiedSigs {
  verify(sig: string, nowSec: number): UserSigResult;
  /** Sigs kept now. */
  size(): number;
}

/**
 * Clients send the same UserSig on every call; inflating, parsing and the HMAC
 * cost more server CPU than an empty call. A sig's signature check never
 * changes its answer, so a passed one is kept (by the SHA-256 of its exact text)
 * and only the time checks run again; an expired sig leaves the cache. Failures are not
 * kept: made-up sigs cannot fill it. Revocation is the account's business
 * (sigsInvalidBeforeMs), checked on every call by the authenticator.
 */
export function createVerifiedSigs(options: VerifiedSigsOptions): VerifiedSigs {
  const { appId, maxSkewSec, maxEntries } = options;
  const secretKey = createSecretKey(Buffer.from(options.secretKey));
  const verified = new Map<string, UserSigClaims>();
  const verify = (sig: string, nowSec: number): UserSigResult => {
    // Keyed by the sig's digest: a 32-byte string where the sig's text is ~200 B,
    // kept per user with a stream open; finding another text with the same key
    // would take a SHA-256 second preimage.
    const key = hash("sha256", sig, "binary");
    const known = verified.get(key);
    if (known !== undefined) {
      const result = checkUserSigTime(known, nowSec, maxSkewSec);
      if (!result.ok && result.failure === "SIG_EXPIRED") verified.delete(key);
      return result;
    }
    const checked = checkUserSigSignature(sig, appId, secretKey);
    if (!checked.ok) return checked;
    const result = checkUserSigTime(checked.claims, nowSec, maxSkewSec);
    // An expired sig is not kept; one not valid yet will be, and is checked again next time.
    if (maxEntries > 0 && !(!result.ok && result.failure === "SIG_EXPIRED")) {
      if (verified.size >= maxEntries) {
        const oldest = verified.keys().next().value;
        if (oldest !== undefined) verified.delete(oldest);
      }
      verified.set(key, checked.claims);
    }
    return result;
  };
  return { verify, size: () => verified.size };
}
