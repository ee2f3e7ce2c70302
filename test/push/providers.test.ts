import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApnsSender } from "../../src/push/apns-sender.js";
import { createFcmSender, type FcmMessage } from "../../src/push/fcm-sender.js";
import { loadPrivateKey } from "../../src/push/jwt.js";
import { sendWithRetry } from "../../src/push/retry.js";
import { type FakeApns, startFakeApns } from "../support/fake-apns.js";
import { type FakeFcm, startFakeFcm } from "../support/fake-fcm.js";

// The real clients against local servers that speak APNs' and FCM's protocols.
const TOKEN = "a1".repeat(32);
const PAYLOAD = JSON.stringify({ aps: { alert: { body: "hi" }, sound: "default" } });
const MESSAGE: FcmMessage = {
  notification: { body: "hi" },
  android: { priority: "high", collapse_key: "k", notification: { tag: "k" } },
  data: { ext: "e" },
};
const noSleep = async () => {};

describe("APNs sender", () => {
  let apns: FakeApns;
  let clockMs = Date.now();
  const clock = () => clockMs;
  let sender: ReturnType<typeof createApnsSender>;
  beforeAll(async () => {
    apns = await startFakeApns({ topics: ["com.example.app"], nowMs: clock });
    sender = createApnsSender(
      {
        key: loadPrivateKey(apns.signingKeyPem, "ec-p256", "APNS_KEY_FILE"),
        keyId: apns.keyId,
        teamId: apns.teamId,
        productionUrl: apns.url,
        sandboxUrl: apns.url,
        ca: apns.caPem,
        tokenRefreshMs: 50 * 60_000,
        requestTimeoutMs: 10_000,
        expirationMs: 86_400_000,
      },
      clock,
    );
  });
  afterAll(async () => {
    await sender.close();
    await apns.close();
  });
  const request = (over: Partial<Parameters<typeof sender.send>[0]> = {}) => ({
    token: TOKEN,
    environment: "production" as const,
    topic: "com.example.app",
    payload: PAYLOAD,
    collapseId: "c2c:a:b:7",
    ...over,
  });

  it("POSTs /3/device/<token> over HTTP/2 with a valid ES256 provider token and the APNs headers", async () => {
    expect(await sender.send(request())).toEqual({ kind: "sent" });
    const got = apns.delivered.at(-1)!;
    expect(got.token).toBe(TOKEN);
    expect(got.headers).toMatchObject({
      "apns-topic": "com.example.app",
      "apns-push-type": "alert",
      "apns-priority": "10",
      "apns-collapse-id": "c2c:a:b:7",
    });
    expect(Number(got.headers["apns-expiration"])).toBe(Math.floor((clockMs + 86_400_000) / 1000));
    expect(got.jwt.header).toMatchObject({ alg: "ES256", kid: apns.keyId });
    expect(got.jwt.claims).toMatchObject({ iss: apns.teamId, iat: Math.floor(clockMs / 1000) });
    expect(got.payload).toEqual(JSON.parse(PAYLOAD));
  });

  it("reuses the provider token within its lifetime and signs a new one before the hour", async () => {
    await sender.send(request());
    const first = apns.delivered.at(-1)!.jwt.claims.iat;
    clockMs += 30 * 60_000;
    await sender.send(request());
    expect(apns.delivered.at(-1)!.jwt.claims.iat).toBe(first);
    clockMs += 25 * 60_000; // 55 min: past the 50-minute refresh, before APNs' hour
    await sender.send(request());
    expect(apns.delivered.at(-1)!.jwt.claims.iat).toBe(Math.floor(clockMs / 1000));
  });

  it("reports dead tokens (410 Unregistered, 400 BadDeviceToken) and other 4xx as final", async () => {
    const dead = "b2".repeat(32);
    apns.unregistered.add(dead);
    expect(await sender.send(request({ token: dead }))).toEqual({
      kind: "invalid-token",
      reason: "Unregistered",
    });
    expect(await sender.send(request({ token: "not-hex" }))).toEqual({
      kind: "invalid-token",
      reason: "BadDeviceToken",
    });
    expect(await sender.send(request({ topic: "com.other" }))).toEqual({
      kind: "failed",
      reason: "TopicDisallowed",
    });
    const big = JSON.stringify({ aps: { alert: "x".repeat(5000) } });
    expect(await sender.send(request({ payload: big }))).toEqual({
      kind: "failed",
      reason: "PayloadTooLarge",
    });
  });

  it("retries 429 and 5xx with backoff, honouring Retry-After, then delivers", async () => {
    apns.script.push(
      { status: 429, reason: "TooManyRequests", headers: { "retry-after": "3" } },
      { status: 503, reason: "ServiceUnavailable" },
    );
    const before = apns.delivered.length;
    const waits: number[] = [];
    const result = await sendWithRetry(
      () => sender.send(request()),
      { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 10_000 },
      async (ms) => {
        waits.push(ms);
      },
    );
    expect(result.outcome).toEqual({ kind: "sent" });
    expect(result.attempts).toBe(3);
    expect(waits).toEqual([3000, 200]);
    expect(apns.delivered.length).toBe(before + 1);
  });

  it("gives up after the last try and never retries a 4xx", async () => {
    apns.script.push(
      { status: 500, reason: "InternalServerError" },
      { status: 500, reason: "InternalServerError" },
    );
    const r = await sendWithRetry(
      () => sender.send(request()),
      { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 1 },
      noSleep,
    );
    expect(r).toMatchObject({
      attempts: 2,
      outcome: { kind: "retry", reason: "InternalServerError" },
    });
    apns.script.push({ status: 400, reason: "BadTopic" });
    const once = await sendWithRetry(
      () => sender.send(request()),
      { maxAttempts: 5, backoffMs: 1, maxBackoffMs: 1 },
      noSleep,
    );
    expect(once).toMatchObject({ attempts: 1, outcome: { kind: "failed", reason: "BadTopic" } });
  });

  it("signs a new provider token when APNs says it expired", async () => {
    apns.script.push({ status: 403, reason: "ExpiredProviderToken" });
    const before = apns.delivered.length;
    clockMs += 1000;
    const r = await sendWithRetry(
      () => sender.send(request()),
      { maxAttempts: 3, backoffMs: 1, maxBackoffMs: 1 },
      noSleep,
    );
    expect(r.outcome).toEqual({ kind: "sent" });
    expect(apns.delivered.length).toBe(before + 1);
    expect(apns.delivered.at(-1)!.jwt.claims.iat).toBe(Math.floor(clockMs / 1000));
  });
});

describe("FCM sender", () => {
  let fcm: FakeFcm;
  let clockMs = Date.now();
  const clock = () => clockMs;
  let sender: ReturnType<typeof createFcmSender>;
  beforeAll(async () => {
    fcm = await startFakeFcm({ nowMs: clock });
    const account = JSON.parse(fcm.serviceAccountJson) as Record<string, string>;
    sender = createFcmSender(
      {
        projectId: account.project_id!,
        clientEmail: account.client_email!,
        key: loadPrivateKey(account.private_key!, "rsa", "FCM_SERVICE_ACCOUNT_FILE"),
        tokenUrl: account.token_uri!,
        fcmUrl: fcm.url,
        requestTimeoutMs: 10_000,
      },
      clock,
    );
  });
  afterAll(() => fcm.close());

  it("exchanges a service-account JWT for an access token once and sends HTTP v1 messages", async () => {
    expect(await sender.send("fcm-token-1", MESSAGE)).toEqual({ kind: "sent" });
    expect(await sender.send("fcm-token-2", MESSAGE)).toEqual({ kind: "sent" });
    expect(fcm.issuedTokens.length).toBe(1);
    expect(fcm.delivered.slice(-2).map((d) => d.message)).toEqual([
      { token: "fcm-token-1", ...MESSAGE },
      { token: "fcm-token-2", ...MESSAGE },
    ]);
    clockMs += 3600_000; // the access token expired: a new exchange
    expect(await sender.send("fcm-token-3", MESSAGE)).toEqual({ kind: "sent" });
    expect(fcm.issuedTokens.length).toBe(2);
  });

  it("reports UNREGISTERED and an invalid registration token as dead tokens", async () => {
    fcm.unregistered.add("gone-token-1");
    expect(await sender.send("gone-token-1", MESSAGE)).toEqual({
      kind: "invalid-token",
      reason: "UNREGISTERED",
    });
    expect(await sender.send("bad token!", MESSAGE)).toEqual({
      kind: "invalid-token",
      reason: "INVALID_ARGUMENT",
    });
    // An INVALID_ARGUMENT about the payload is not the token's fault.
    const huge = { ...MESSAGE, data: { ext: "x".repeat(5000) } };
    expect(await sender.send("fcm-token-1", huge)).toEqual({
      kind: "failed",
      reason: "INVALID_ARGUMENT",
    });
  });

  it("retries QUOTA_EXCEEDED (429, Retry-After) and UNAVAILABLE (503), then delivers", async () => {
    fcm.script.push(
      {
        status: 429,
        grpcStatus: "RESOURCE_EXHAUSTED",
        errorCode: "QUOTA_EXCEEDED",
        headers: { "retry-after": "7" },
      },
      { status: 503, grpcStatus: "UNAVAILABLE", errorCode: "UNAVAILABLE" },
    );
    const waits: number[] = [];
    const r = await sendWithRetry(
      () => sender.send("fcm-token-9", MESSAGE),
      { maxAttempts: 4, backoffMs: 50, maxBackoffMs: 60_000 },
      async (ms) => {
        waits.push(ms);
      },
    );
    expect(r).toMatchObject({ attempts: 3, outcome: { kind: "sent" } });
    expect(waits).toEqual([7000, 100]);
  });
});
