import { createHmac, type KeyObject, timingSafeEqual } from "node:crypto";
import { deflateSync } from "node:zlib";
import { inflateZlibText } from "./inflate.js";

/**
 * UserSig in the TLSSigAPIv2 format, so app servers keep using the generators
 * they already have in any language: JSON with an HMAC-SHA256 over a fixed
 * text, zlib-deflated, base64 with `+/=` replaced by `*-_`.
 */

export interface UserSigClaims {
  userId: string;
  appId: number;
  /** Issue time, seconds since the epoch (TLS.time). */
  issuedAtSec: number;
  /** Lifetime in seconds (TLS.expire). */
  expireSec: number;
}

export type UserSigFailure =
  | "SIG_MALFORMED"
  | "SIG_EXPIRED"
  | "SIG_WRONG_APP"
  | "SIG_BAD_SIGNATURE"
  | "SIG_NOT_YET_VALID";

export type UserSigResult =
  | { ok: true; claims: UserSigClaims }
  | { ok: false; failure: UserSigFailure; detail: string };

export interface GenerateUserSigInput {
  appId: number;
  secretKey: string;
  userId: string;
  expireSec: number;
  /** Defaults to now. */
  issuedAtSec?: number;
}

export function generateUserSig(input: GenerateUserSigInput): string {
  const time = input.issuedAtSec ?? Math.floor(Date.now() / 1000);
  const doc = {
    "TLS.ver": "2.0",
    "TLS.identifier": input.userId,
    "TLS.sdkappid": input.appId,
    "TLS.expire": input.expireSec,
    "TLS.time": time,
    "TLS.sig": signature(input.secretKey, input.userId, input.appId, time, input.expireSec),
  };
  return toUrlBase64(deflateSync(Buffer.from(JSON.stringify(doc))));
}

export interface VerifyUserSigInput {
  sig: string;
  appId: number;
  secretKey: string;
  nowSec: number;
  /** Tolerated clock skew for sigs issued "in the future", seconds. */
  maxSkewSec?: number;
}

export function verifyUserSig(input: VerifyUserSigInput): UserSigResult {
  const result = checkUserSigSignature(input.sig, input.appId, input.secretKey);
  return result.ok ? checkUserSigTime(result.claims, input.nowSec, input.maxSkewSec) : result;
}

/**
 * The time-independent half of verifyUserSig: format, app and HMAC. Its answer
 * for a given sig never changes (per app and key), so callers may keep it.
 */
export function checkUserSigSignature(
  sig: string,
  appId: number,
  /** A KeyObject made once spares converting the key on every check. */
  secretKey: string | KeyObject,
): UserSigResult {
  const doc = decode(sig);
  if (doc === undefined) return fail("SIG_MALFORMED", "UserSig is not valid base64/zlib/JSON");
  const userId = doc["TLS.identifier"];
  const sigAppId = doc["TLS.sdkappid"];
  const time = doc["TLS.time"];
  const expire = doc["TLS.expire"];
  const mac = doc["TLS.sig"];
  if (
    doc["TLS.ver"] !== "2.0" ||
    typeof userId !== "string" ||
    !isWholeNumber(sigAppId) ||
    !isWholeNumber(time) ||
    !isWholeNumber(expire) ||
    typeof mac !== "string"
  ) {
    return fail("SIG_MALFORMED", "UserSig lacks TLS.ver 2.0 or a required field");
  }
  if (sigAppId !== appId) return fail("SIG_WRONG_APP", `UserSig is for app ${sigAppId}`);
  const expected = Buffer.from(signature(secretKey, userId, sigAppId, time, expire));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return fail("SIG_BAD_SIGNATURE", "UserSig signature does not verify");
  }
  return { ok: true, claims: { userId, appId: sigAppId, issuedAtSec: time, expireSec: expire } };
}

/** The time-dependent half of verifyUserSig: expiry and issue time (with tolerated skew). */
export function checkUserSigTime(
  claims: UserSigClaims,
  nowSec: number,
  maxSkewSec = 300,
): UserSigResult {
  if (claims.issuedAtSec + claims.expireSec < nowSec) {
    return fail("SIG_EXPIRED", "UserSig has expired");
  }
  if (claims.issuedAtSec > nowSec + maxSkewSec) {
    return fail("SIG_NOT_YET_VALID", "UserSig is issued in the future");
  }
  return { ok: true, claims };
}

function signature(
  key: string | KeyObject,
  userId: string,
  appId: number,
  time: number,
  expire: number,
) {
  const content =
    `TLS.identifier:${userId}\nTLS.sdkappid:${appId}\n` +
    `TLS.time:${time}\nTLS.expire:${expire}\n`;
  return createHmac("sha256", key).update(content).digest("base64");
}

function decode(sig: string): Record<string, unknown> | undefined {
  try {
    const raw = Buffer.from(
      sig.replace(/\*/g, "+").replace(/-/g, "/").replace(/_/g, "="),
      "base64",
    );
    const parsed: unknown = JSON.parse(inflateZlibText(raw, 64 * 1024));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const toUrlBase64 = (buf: Buffer): string =>
  buf.toString("base64").replace(/\+/g, "*").replace(/\//g, "-").replace(/=/g, "_");

const isWholeNumber = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

const fail = (failure: UserSigFailure, detail: string): UserSigResult => ({
  ok: false,
  failure,
  detail,
});
