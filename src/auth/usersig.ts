import { createHmac, timingSafeEqual } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";

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
  const doc = decode(input.sig);
  if (doc === undefined) return fail("SIG_MALFORMED", "UserSig is not valid base64/zlib/JSON");
  const userId = doc["TLS.identifier"];
  const appId = doc["TLS.sdkappid"];
  const time = doc["TLS.time"];
  const expire = doc["TLS.expire"];
  const sig = doc["TLS.sig"];
  if (
    doc["TLS.ver"] !== "2.0" ||
    typeof userId !== "string" ||
    !isWholeNumber(appId) ||
    !isWholeNumber(time) ||
    !isWholeNumber(expire) ||
    typeof sig !== "string"
  ) {
    return fail("SIG_MALFORMED", "UserSig lacks TLS.ver 2.0 or a required field");
  }
  if (appId !== input.appId) return fail("SIG_WRONG_APP", `UserSig is for app ${appId}`);
  const expected = Buffer.from(signature(input.secretKey, userId, appId, time, expire));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return fail("SIG_BAD_SIGNATURE", "UserSig signature does not verify");
  }
  if (time + expire < input.nowSec) return fail("SIG_EXPIRED", "UserSig has expired");
  if (time > input.nowSec + (input.maxSkewSec ?? 300)) {
    return fail("SIG_NOT_YET_VALID", "UserSig is issued in the future");
  }
  return { ok: true, claims: { userId, appId, issuedAtSec: time, expireSec: expire } };
}

function signature(key: string, userId: string, appId: number, time: number, expire: number) {
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
    const parsed: unknown = JSON.parse(inflateSync(raw, { maxOutputLength: 64 * 1024 }).toString());
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
