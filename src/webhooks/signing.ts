import { createHmac, timingSafeEqual } from "node:crypto";

/** Header names (lower case, as Node presents incoming headers). */
export const TIMESTAMP_HEADER = "x-im-timestamp";
export const SIGNATURE_HEADER = "x-im-signature";
export const SIGNATURE_VERSION_HEADER = "x-im-signature-version";
export const EVENT_ID_HEADER = "x-im-event-id";
export const COMMAND_HEADER = "x-im-command";

/**
 * The signing scheme, sent in X-IM-Signature-Version so endpoints can tell.
 * 2: HMAC-SHA256 over `timestamp "." command "." eventId "." body` (the routing
 * headers are covered, so a captured signature cannot be moved to another event
 * id or command). 1 (timestamp "." body) is no longer sent.
 */
export const SIGNATURE_VERSION = "2";

/** How far a request's timestamp may be from the verifier's clock, either way. */
export const DEFAULT_REPLAY_WINDOW_MS = 5 * 60_000;

/** What is signed besides the body: the values of the three headers. */
export interface SignedFields {
  timestampMs: number | string;
  /** X-IM-Command, e.g. "c2c-before-send". */
  command: string;
  /** X-IM-Event-Id. */
  eventId: string;
}

/** Lowercase hex HMAC-SHA256 (scheme 2), keyed with the shared secret. */
export function computeSignature(
  secret: string,
  fields: SignedFields,
  body: string | Uint8Array,
): string {
  return createHmac("sha256", secret)
    .update(`${fields.timestampMs}.${fields.command}.${fields.eventId}.`)
    .update(body)
    .digest("hex");
}

/** Every header that identifies and authenticates a request. */
export function signedHeaders(
  secret: string,
  fields: SignedFields,
  body: string,
): Record<string, string> {
  return {
    [TIMESTAMP_HEADER]: String(fields.timestampMs),
    [COMMAND_HEADER]: fields.command,
    [EVENT_ID_HEADER]: fields.eventId,
    [SIGNATURE_VERSION_HEADER]: SIGNATURE_VERSION,
    [SIGNATURE_HEADER]: computeSignature(secret, fields, body),
  };
}

export type SignatureFailure =
  | "missing-timestamp"
  | "malformed-timestamp"
  | "stale-timestamp"
  | "missing-signature"
  | "unsupported-version"
  | "bad-signature";

export type SignatureCheck =
  | { ok: true }
  | { ok: false; failure: SignatureFailure; message: string };

export interface VerifySignatureInput {
  secret: string;
  /** The raw request body exactly as received; re-encoding JSON would change the bytes. */
  body: string | Uint8Array;
  /** Header value by lower-case name (X-IM-Timestamp, -Command, -Event-Id, -Signature, -Signature-Version). */
  header: (name: string) => string | undefined;
  /** Verifier's clock, ms since the epoch. */
  nowMs: number;
  /** Accepted distance between timestamp and nowMs; default 5 minutes. */
  windowMs?: number;
}

/**
 * Checks a request's signature and that its timestamp is inside the replay
 * window, so a captured request cannot be re-sent later (within the window,
 * reject repeated event ids: see createSeenEventIds). Comparison is constant-time.
 */
export function verifySignature(input: VerifySignatureInput): SignatureCheck {
  const timestamp = input.header(TIMESTAMP_HEADER);
  const signature = input.header(SIGNATURE_HEADER);
  const version = input.header(SIGNATURE_VERSION_HEADER);
  if (timestamp === undefined || timestamp === "") {
    return fail("missing-timestamp", `missing ${TIMESTAMP_HEADER} header`);
  }
  if (!/^\d{1,16}$/.test(timestamp)) {
    return fail("malformed-timestamp", `${TIMESTAMP_HEADER} must be ms since the epoch`);
  }
  if (signature === undefined || signature === "") {
    return fail("missing-signature", `missing ${SIGNATURE_HEADER} header`);
  }
  if (version !== SIGNATURE_VERSION) {
    return fail(
      "unsupported-version",
      `${SIGNATURE_VERSION_HEADER} is ${version ?? "missing"}; this verifier knows ${SIGNATURE_VERSION}`,
    );
  }
  const fields = {
    timestampMs: timestamp,
    command: input.header(COMMAND_HEADER) ?? "",
    eventId: input.header(EVENT_ID_HEADER) ?? "",
  };
  const expected = Buffer.from(computeSignature(input.secret, fields, input.body), "hex");
  const given = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, "hex") : undefined;
  if (given === undefined || !timingSafeEqual(expected, given)) {
    return fail(
      "bad-signature",
      "signature does not match the body, timestamp, command and event id",
    );
  }
  // Checked after the signature so an attacker learns nothing about the window from forgeries.
  const windowMs = input.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
  const skew = Math.abs(input.nowMs - Number(timestamp));
  if (skew > windowMs) {
    return fail("stale-timestamp", `timestamp is ${skew} ms away from now (window ${windowMs} ms)`);
  }
  return { ok: true };
}

/**
 * Event ids seen within the replay window. A signed request re-sent inside the
 * window verifies; remembering its id is what stops it. Ids older than the
 * window are forgotten (the timestamp check rejects those requests anyway).
 */
export interface SeenEventIds {
  /** True the first time an id is seen; false for a repeat within the window. */
  firstSighting(eventId: string, nowMs: number): boolean;
  size(): number;
}

export function createSeenEventIds(windowMs: number = DEFAULT_REPLAY_WINDOW_MS): SeenEventIds {
  // Insertion order is arrival order, so expiry only ever looks at the front.
  const seen = new Map<string, number>();
  return {
    firstSighting: (eventId, nowMs) => {
      for (const [id, at] of seen) {
        // Twice the window: a request may be signed up to a window before or after our clock.
        if (nowMs - at <= 2 * windowMs) break;
        seen.delete(id);
      }
      if (seen.has(eventId)) return false;
      seen.set(eventId, nowMs);
      return true;
    },
    size: () => seen.size,
  };
}

const fail = (failure: SignatureFailure, message: string): SignatureCheck => ({
  ok: false,
  failure,
  message,
});
