import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  COMMAND_HEADER,
  computeSignature,
  createSeenEventIds,
  DEFAULT_REPLAY_WINDOW_MS,
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  SIGNATURE_VERSION_HEADER,
  signedHeaders,
  TIMESTAMP_HEADER,
  verifySignature,
} from "./signing.js";

const secret = "s3cret";
const body = '{"command":"WEBHOOK_COMMAND_C2C_BEFORE_SEND","appId":"1400000000"}';
const now = 1_750_000_000_000;
const fields = { timestampMs: now, command: "c2c-before-send", eventId: "evt-1" };

describe("signing (scheme 2)", () => {
  it("is HMAC-SHA256 hex over timestamp.command.eventId.body, version in a header", () => {
    const expected = createHmac("sha256", secret)
      .update(`${now}.c2c-before-send.evt-1.${body}`)
      .digest("hex");
    expect(computeSignature(secret, fields, body)).toBe(expected);
    expect(signedHeaders(secret, fields, body)).toEqual({
      [TIMESTAMP_HEADER]: String(now),
      [COMMAND_HEADER]: "c2c-before-send",
      [EVENT_ID_HEADER]: "evt-1",
      [SIGNATURE_VERSION_HEADER]: "2",
      [SIGNATURE_HEADER]: expected,
    });
  });

  it("signs the raw bytes, so non-ASCII bodies verify from a Buffer too", () => {
    const text = '{"text":"héllo 👋"}';
    const sig = computeSignature(secret, fields, text);
    expect(computeSignature(secret, fields, Buffer.from(text, "utf8"))).toBe(sig);
  });
});

describe("verifySignature", () => {
  const headers = signedHeaders(secret, fields, body);
  const base = (change: Record<string, string | undefined> = {}) => {
    const h: Record<string, string | undefined> = { ...headers, ...change };
    return { secret, body, header: (name: string) => h[name], nowMs: now };
  };

  it("accepts a fresh, correct signature", () => {
    expect(verifySignature(base())).toEqual({ ok: true });
  });

  it("accepts uppercase hex", () => {
    const upper = headers[SIGNATURE_HEADER]?.toUpperCase();
    expect(verifySignature(base({ [SIGNATURE_HEADER]: upper }))).toEqual({ ok: true });
  });

  it.each([
    ["another command", { [COMMAND_HEADER]: "group-before-send" }, "bad-signature"],
    ["another event id", { [EVENT_ID_HEADER]: "evt-2" }, "bad-signature"],
    ["no event id", { [EVENT_ID_HEADER]: undefined }, "bad-signature"],
    ["timestamp changed after signing", { [TIMESTAMP_HEADER]: String(now + 1) }, "bad-signature"],
    ["signature not hex", { [SIGNATURE_HEADER]: "zz" }, "bad-signature"],
    ["signature truncated", { [SIGNATURE_HEADER]: "ab12" }, "bad-signature"],
    ["missing signature", { [SIGNATURE_HEADER]: undefined }, "missing-signature"],
    ["missing timestamp", { [TIMESTAMP_HEADER]: undefined }, "missing-timestamp"],
    ["timestamp with junk", { [TIMESTAMP_HEADER]: "17e11" }, "malformed-timestamp"],
    [
      "no version (scheme 1 sender)",
      { [SIGNATURE_VERSION_HEADER]: undefined },
      "unsupported-version",
    ],
    ["unknown version", { [SIGNATURE_VERSION_HEADER]: "3" }, "unsupported-version"],
  ])("rejects %s", (_name, change, failure) => {
    expect(verifySignature(base(change))).toMatchObject({ ok: false, failure });
  });

  it("rejects a wrong secret and a tampered body", () => {
    expect(verifySignature({ ...base(), secret: "other" })).toMatchObject({
      failure: "bad-signature",
    });
    expect(verifySignature({ ...base(), body: `${body} ` })).toMatchObject({
      failure: "bad-signature",
    });
  });

  it("enforces the replay window in both directions", () => {
    const at = (nowMs: number) => verifySignature({ ...base(), nowMs });
    expect(at(now + DEFAULT_REPLAY_WINDOW_MS)).toEqual({ ok: true });
    expect(at(now - DEFAULT_REPLAY_WINDOW_MS)).toEqual({ ok: true });
    expect(at(now + DEFAULT_REPLAY_WINDOW_MS + 1)).toMatchObject({ failure: "stale-timestamp" });
    expect(at(now - DEFAULT_REPLAY_WINDOW_MS - 1)).toMatchObject({ failure: "stale-timestamp" });
  });

  it("honours a custom window", () => {
    expect(verifySignature({ ...base(), nowMs: now + 1001, windowMs: 1000 })).toMatchObject({
      failure: "stale-timestamp",
    });
  });

  it("reports a forgery as bad-signature even when it is also stale", () => {
    expect(
      verifySignature({ ...base(), secret: "x", nowMs: now + 10 * DEFAULT_REPLAY_WINDOW_MS }),
    ).toMatchObject({ failure: "bad-signature" });
  });
});

describe("createSeenEventIds", () => {
  it("refuses a repeat within the window and forgets ids once no valid request can carry them", () => {
    const seen = createSeenEventIds(1000);
    expect(seen.firstSighting("a", 0)).toBe(true);
    expect(seen.firstSighting("a", 1500)).toBe(false);
    expect(seen.firstSighting("b", 1500)).toBe(true);
    expect(seen.firstSighting("a", 2001)).toBe(true); // > 2 windows later: stale anyway
    expect(seen.size()).toBe(2);
  });
});
