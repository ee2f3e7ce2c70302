import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  computeSignature,
  DEFAULT_REPLAY_WINDOW_MS,
  SIGNATURE_HEADER,
  signatureHeaders,
  TIMESTAMP_HEADER,
  verifySignature,
} from "./signing.js";

const secret = "s3cret";
const body = '{"command":"WEBHOOK_COMMAND_C2C_BEFORE_SEND","appId":"1400000000"}';
const now = 1_750_000_000_000;

describe("signing", () => {
  it("is HMAC-SHA256 hex over timestamp.body", () => {
    const expected = createHmac("sha256", secret).update(`${now}.${body}`).digest("hex");
    expect(computeSignature(secret, now, body)).toBe(expected);
    expect(signatureHeaders(secret, now, body)).toEqual({
      [TIMESTAMP_HEADER]: String(now),
      [SIGNATURE_HEADER]: expected,
    });
  });

  it("signs the raw bytes, so non-ASCII bodies verify from a Buffer too", () => {
    const text = '{"text":"héllo 👋"}';
    const sig = computeSignature(secret, now, text);
    expect(computeSignature(secret, now, Buffer.from(text, "utf8"))).toBe(sig);
  });
});

describe("verifySignature", () => {
  const headers = signatureHeaders(secret, now, body);
  const base = {
    secret,
    body,
    timestamp: headers[TIMESTAMP_HEADER],
    signature: headers[SIGNATURE_HEADER],
    nowMs: now,
  };

  it("accepts a fresh, correct signature", () => {
    expect(verifySignature(base)).toEqual({ ok: true });
  });

  it("accepts uppercase hex", () => {
    expect(verifySignature({ ...base, signature: base.signature?.toUpperCase() })).toEqual({
      ok: true,
    });
  });

  it.each([
    ["wrong secret", { secret: "other" }, "bad-signature"],
    ["tampered body", { body: `${body} ` }, "bad-signature"],
    ["timestamp changed after signing", { timestamp: String(now + 1) }, "bad-signature"],
    ["signature not hex", { signature: "zz" }, "bad-signature"],
    ["signature truncated", { signature: base.signature?.slice(0, 10) }, "bad-signature"],
    ["missing signature", { signature: undefined }, "missing-signature"],
    ["missing timestamp", { timestamp: undefined }, "missing-timestamp"],
    ["timestamp in seconds with junk", { timestamp: "17e11" }, "malformed-timestamp"],
  ])("rejects %s", (_name, change, failure) => {
    const result = verifySignature({ ...base, ...change });
    expect(result).toMatchObject({ ok: false, failure });
  });

  it("enforces the replay window in both directions", () => {
    expect(verifySignature({ ...base, nowMs: now + DEFAULT_REPLAY_WINDOW_MS })).toEqual({
      ok: true,
    });
    expect(verifySignature({ ...base, nowMs: now - DEFAULT_REPLAY_WINDOW_MS })).toEqual({
      ok: true,
    });
    expect(verifySignature({ ...base, nowMs: now + DEFAULT_REPLAY_WINDOW_MS + 1 })).toMatchObject({
      ok: false,
      failure: "stale-timestamp",
    });
    expect(verifySignature({ ...base, nowMs: now - DEFAULT_REPLAY_WINDOW_MS - 1 })).toMatchObject({
      ok: false,
      failure: "stale-timestamp",
    });
  });

  it("honours a custom window", () => {
    expect(verifySignature({ ...base, nowMs: now + 1001, windowMs: 1000 })).toMatchObject({
      ok: false,
      failure: "stale-timestamp",
    });
  });

  it("reports a forgery as bad-signature even when it is also stale", () => {
    expect(
      verifySignature({ ...base, secret: "x", nowMs: now + 10 * DEFAULT_REPLAY_WINDOW_MS }),
    ).toMatchObject({
      failure: "bad-signature",
    });
  });
});
