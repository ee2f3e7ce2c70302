import { createHmac, timingSafeEqual } from "node:crypto";

/** Header names (lower case, as Node presents incoming headers). */
export const TIMESTAMP_HEADER = "x-im-timestamp";
export const SIGNATURE_HEADER = "x-im-signature";
export const EVENT_ID_HEADER = "x-im-event-id";
export const COMMAND_HEADER = "x-im-command";

/** How far a request's timestamp may be from the verifier's clock, either way. */
export const DEFAULT_REPLAY_WINDOW_MS = 5 * 60_000;

/** Lowercase hex HMAC-SHA256 over `timestamp + "." + body`, keyed with the shared secret. */
export function computeSignature(
  secret: string,
  timestampMs: number | string,
  body: string | Uint8Array,
): string {
  return createHmac("sha256", secret).update(`${timestampMs}.`).update(body).digest("hex");
}

/** The two headers that let an endpoint authenticate a request body. */
export function signatureHeaders(
  secret: string,
  timestampMs: number,
  body: string,
): Record<string, string> {
  return {
    [TIMESTAMP_HEADER]: String(timestampMs),
    [SIGNATURE_HEADER]: computeSignature(secret, timestampMs, body),
  };
}

export type SignatureFailure =
  | "missing-timestamp"
  | "malformed-timestamp"
  | "stale-timestamp"
  | "missing-signature"
  | "bad-signature";

export type SignatureCheck =
  | { ok: true }
  | { ok: false; failure: SignatureFailure; message: string };

export interface VerifySignatureInput {
  secret: string;
  /** The raw request body exactly as received; re-encoding JSON would change the bytes. */
  body: string | Uint8Array;
  /** X-IM-Timestamp header value. */
  timestamp: string | undefined;
  /** X-IM-Signature header value. */
  signature: string | undefined;
  /** Verifier's clock, ms since the epoch. */
  nowMs: number;
  /** Accepted distance between timestamp and nowMs; default 5 minutes. */
  windowMs?: number;
}

/**
 * Checks a request's signature and that its timestamp is inside the replay
 * window, so a captured request cannot be re-sent later. Comparison is
 * constant-time.
 */
export function verifySignature(input: VerifySignatureInput): SignatureCheck {
  const { timestamp, signature } = input;
  if (timestamp === undefined || timestamp === "") {
    return fail("missing-timestamp", `missing ${TIMESTAMP_HEADER} header`);
  }
  if (!/^\d{1,16}$/.test(timestamp)) {
    return fail("malformed-timestamp", `${TIMESTAMP_HEADER} must be ms since the epoch`);
  }
  if (signature === undefined || signature === "") {
    return fail("missing-signature", `missing ${SIGNATURE_HEADER} header`);
  }
  const expected = Buffer.from(computeSignature(input.secret, timestamp, input.body), "hex");
  const given = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, "hex") : undefined;
  if (given === undefined || !timingSafeEqual(expected, given)) {
    return fail("bad-signature", "signature does not match the body and timestamp");
  }
  // Checked after the signature so an attacker learns nothing about the window from forgeries.
  const windowMs = input.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
  const skew = Math.abs(input.nowMs - Number(timestamp));
  if (skew > windowMs) {
    return fail("stale-timestamp", `timestamp is ${skew} ms away from now (window ${windowMs} ms)`);
  }
  return { ok: true };
}

const fail = (failure: SignatureFailure, message: string): SignatureCheck => ({
  ok: false,
  failure,
  message,
});
