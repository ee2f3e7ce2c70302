import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { type MessageElement, MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { ErrorDetailSchema, ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import {
  MessageService,
  type SendMessageRequestSchema,
  type SendMessageResponse,
} from "../../src/gen/im/v1/message_pb.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { decodeWebhookRequest } from "../../src/webhooks/index.js";
import { replyJson, startTestServer } from "../../src/webhooks/test-server.js";
import { freePort, testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { deferred } from "../support/deferred.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import {
  type C2cEventFacts,
  runSimCli,
  type SimServe,
  scratchDir,
  startSimServeInProcess,
  startSimServeProcess,
} from "../support/webhook-sim.js";

/*
 * docs/architecture.md "Webhook semantics", row by row, end to end: the real server (in this
 * process, on a free port) calls `webhook-sim serve` (a real child process for the
 * main server) as its app backend; outcomes are observed through SendMessage, a
 * live device stream, SyncMessages and the events serve recorded. Each message's
 * text picks the rule serve answers it with.
 */

type SendInit = MessageInitShape<typeof SendMessageRequestSchema>;

const SECRET = "webhook-test-secret";
/**
 * Short enough to keep the suite fast, long enough for an endpoint that answers at once to
 * do so on a loaded machine (300 ms lost a DENY at load 36); one server per backend also
 * runs the real 2 s default.
 */
const SHORT_TIMEOUT_MS = 1000;
const DEFAULT_TIMEOUT_MS = 2000;
/** How far a timed-out send may land from the configured timeout (sender's latency). */
const TIMEOUT_TOLERANCE_MS = 150;
/**
 * When the short-timeout case's deny arrives. Far enough past the timeout that the
 * sender's latency (timeout + the store's own work, which on FerretDB under a loaded
 * run reaches ~150 ms) stays clearly below it: a wait this long means the server
 * waited for the late answer.
 */
const LATE_ANSWER_MS = SHORT_TIMEOUT_MS + 400;
/**
 * The slow endpoint's delay: far enough past the 2 s timeout that no scheduling delay
 * lets its answer win, short enough that serve's stop (which waits for it) stays quick.
 */
const SLOW_MS = 5000;
const APP_CODE = 120001;
const APP_TEXT = "links are not allowed";

const before = "c2c-before-send";
const after = "c2c-after-send";

const RULES = {
  rules: [
    {
      name: "deny",
      match: { command: before, text: "^deny me$" },
      action: "deny",
      code: APP_CODE,
      text: APP_TEXT,
    },
    { name: "drop", match: { command: before, text: "^drop me$" }, action: "drop" },
    {
      name: "rewrite",
      match: { command: before, text: "^modify me$" },
      action: "modify",
      body: [{ text: { text: "modified by the app" } }, { custom: { data: '{"card":1}' } }],
      cloudCustomData: '{"censored":true}',
    },
    {
      name: "censor",
      match: { command: before, text: "darn" },
      action: "modify",
      replace: { pattern: "darn", with: "d**n" },
    },
    {
      name: "invalid rewrite",
      match: { command: before, text: "^break me$" },
      action: "modify",
      body: [{ text: { text: "" } }],
    },
    {
      name: "late deny",
      match: { command: before, text: "^late deny$" },
      delayMs: 1500,
      action: "deny",
      code: 9,
      text: "late but in time",
    },
    // Answers long after the 2 s default timeout, so no scheduling delay lets the answer win.
    { name: "slow", match: { command: before, text: "^slow$" }, action: "delay", delayMs: SLOW_MS },
    {
      // A deny that arrives after the short timeout: proves the late answer is ignored.
      name: "deny after the timeout",
      match: { command: before, text: "^slow deny$" },
      delayMs: LATE_ANSWER_MS,
      action: "deny",
      code: 9,
      text: "too late",
    },
    {
      name: "busy",
      match: { command: before, text: "^busy$" },
      action: "status",
      status: 503,
      body: "busy",
    },
    { name: "garbage", match: { command: before, text: "^garbage$" }, action: "malformed" },
    { name: "hang up", match: { command: before, text: "^hangup$" }, action: "close" },
    {
      name: "after-send deny",
      match: { command: after, text: "^after-send deny$" },
      action: "deny",
      code: 1,
      text: "ignored",
    },
    {
      name: "after-send busy",
      match: { command: after, text: "^after-send busy$" },
      action: "status",
      status: 500,
    },
    {
      name: "after-send hang up",
      match: { command: after, text: "^after-send hangup$" },
      action: "close",
    },
  ],
  default: { action: "allow" },
};

const el = (element: MessageInitShape<typeof MessageElementSchema>["element"]): MessageElement =>
  create(MessageElementSchema, { element });

/** Runs `call` and measures how long the sender waited for it. */
async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A logger that keeps the server's webhook warnings, so a test reads the verdict the
 * server itself reached for an event (timed out or failed at once) instead of
 * inferring it from how long the sender waited.
 */
function webhookLog(): {
  logger: Logger;
  verdictOf(eventId: string): unknown;
  verdicts(event: string): unknown[];
} {
  const records: Record<string, unknown>[] = [];
  return {
    logger: createLogger({
      level: "warn",
      write: (line) => records.push(JSON.parse(line) as Record<string, unknown>),
    }),
    verdictOf: (eventId) => records.find((r) => r.eventId === eventId)?.verdict,
    verdicts: (event) => records.filter((r) => r.event === event).map((r) => r.verdict),
  };
}

/** The sender-side latencies of timed-out sends, reported once at the end. */
const timeoutLatencies: string[] = [];

describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("webhooks"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("webhooks"),
    }),
  ],
])("C2C webhooks end to end on %s", (backend, env) => {
  let dir: Awaited<ReturnType<typeof scratchDir>>;
  /** The CLI process, behind the short-timeout server. */
  let serve: SimServe;
  let app: TestApp;
  /** The same rules behind a server on the default 2 s timeout. */
  let serve2s: SimServe;
  let app2s: TestApp;
  const appLog = webhookLog();
  const app2sLog = webhookLog();
  let n = 0;

  const webhookEnv = (url: string, extra: Record<string, string> = {}) => ({
    ...env(),
    WEBHOOK_URL: url,
    WEBHOOK_SECRET: SECRET,
    ...extra,
  });

  /** Fresh users per test so every recorded event can be told apart by sender and recipient. */
  const users = async (on: TestApp, count: number) => {
    const ids = Array.from(
      { length: count },
      () => `w${++n}_${Math.random().toString(36).slice(2, 8)}`,
    );
    await clientAs(AccountService, on.baseUrl, ADMIN).importAccounts({
      accounts: ids.map((userId) => ({ userId })),
    });
    return ids as [string, string, ...string[]];
  };
  const messages = (on: TestApp, user: string) => clientAs(MessageService, on.baseUrl, user);
  const send = (on: TestApp, from: string, req: SendInit) => messages(on, from).sendMessage(req);
  const history = async (on: TestApp, user: string, peer: string) =>
    (await messages(on, user).syncMessages({ peerUserId: peer })).messages;

  const eventsNamed = async (s: SimServe, name: string, from: string, to: string) =>
    (await s.c2cEvents(from, to)).filter((e) => e.name === name);

  /** Waits until serve has recorded `count` events of `name` for the pair, and returns them. */
  const waitForEvents = (s: SimServe, name: string, from: string, to: string, count: number) =>
    eventually(async () => {
      const found = await eventsNamed(s, name, from, to);
      expect(found).toHaveLength(count);
      return found;
    });

  /**
   * The message was delivered exactly as sent: acked with seq 1, live on the
   * recipient's device, in history, and reported once by after-send with the
   * same content, seq, key and time.
   */
  async function expectDeliveredAsSent(
    on: TestApp,
    s: SimServe,
    pair: { a: string; b: string; bDevice: OpenStream },
    res: SendMessageResponse,
    sent: { body: MessageElement[]; cloudCustomData?: string },
    beforeVerdict: string,
  ): Promise<void> {
    const { a, b, bDevice } = pair;
    const cloudCustomData = sent.cloudCustomData ?? "";
    expect([res.seq, res.messageKey]).toEqual([1n, `${res.conversationId}:1`]);
    const [live] = await bDevice.waitForMessages(1);
    expect([live?.seq, live?.body, live?.cloudCustomData]).toEqual([
      1n,
      sent.body,
      cloudCustomData,
    ]);
    expect((await history(on, b, a)).map((m) => [m.seq, m.body, m.cloudCustomData])).toEqual([
      [1n, sent.body, cloudCustomData],
    ]);
    const [beforeEvent] = await waitForEvents(s, before, a, b, 1);
    expect(beforeEvent?.verdict).toBe(beforeVerdict);
    const [afterEvent] = await waitForEvents(s, after, a, b, 1);
    expect(afterEvent).toMatchObject({
      body: sent.body,
      cloudCustomData,
      seq: res.seq,
      msgKey: res.messageKey,
      msgTimeMs: res.timeMs,
    });
  }

  /**
   * Nothing of the suppressed message was stored, delivered or reported: an
   * allowed sentinel sent after it gets seq 1, is the only message live and in
   * history, and is the only after-send event of the pair.
   */
  async function expectOnlySentinel(pair: {
    a: string;
    b: string;
    bDevice: OpenStream;
    aOther: OpenStream;
  }): Promise<void> {
    const { a, b, bDevice, aOther } = pair;
    const sentinel = await send(app, a, { toUserId: b, body: [text("sentinel")] });
    expect(sentinel.seq).toBe(1n);
    await bDevice.waitForMessages(1);
    await aOther.waitForMessages(1);
    const [afterEvent] = await waitForEvents(serve, after, a, b, 1);
    expect(afterEvent?.text).toBe("sentinel");
    for (const device of [bDevice, aOther]) {
      expect(device.messages().map((m) => m.body)).toEqual([[text("sentinel")]]);
    }
    expect((await history(app, b, a)).map((m) => m.body)).toEqual([[text("sentinel")]]);
  }

  beforeAll(async () => {
    dir = await scratchDir();
    // The CLI as a developer runs it; its --timeout matches the server's so it records
    // the verdicts the server reaches (the replay test below relies on that).
    serve = await startSimServeProcess({
      rules: RULES,
      secret: SECRET,
      timeoutMs: SHORT_TIMEOUT_MS,
      recordPath: dir.file("served.jsonl"),
    });
    serve2s = await startSimServeInProcess({
      rules: RULES,
      secret: SECRET,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      recordPath: dir.file("served-2s.jsonl"),
    });
    app = await startTestApp(
      webhookEnv(serve.url, { WEBHOOK_TIMEOUT_MS: String(SHORT_TIMEOUT_MS) }),
      { logger: appLog.logger },
    );
    // No WEBHOOK_TIMEOUT_MS: the contract's default.
    app2s = await startTestApp(webhookEnv(serve2s.url), { logger: app2sLog.logger });
  });
  afterAll(async () => {
    await app?.close();
    await app2s?.close();
    await serve?.stop();
    await serve2s?.stop();
    await dir?.remove();
  });

  describe("before-send answered in time", () => {
    it("ALLOW: delivers the message as is, then reports it in after-send", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const body = [text("hello"), el({ case: "face", value: { index: 1, data: "smile" } })];
      const res = await send(app, a, { toUserId: b, body, cloudCustomData: "ccd" });
      await expectDeliveredAsSent(
        app,
        serve,
        { a, b, bDevice },
        res,
        { body, cloudCustomData: "ccd" },
        "delivered-as-is",
      );
      // The before-send event carried the message as the sender wrote it.
      const [event] = await eventsNamed(serve, before, a, b);
      expect([event?.body, event?.cloudCustomData]).toEqual([body, "ccd"]);
      bDevice.close();
    });

    it("DENY: the sender gets BLOCKED_BY_WEBHOOK with the app's code and text; nothing is stored, delivered or reported", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const aOther = await openStream(app.baseUrl, a, "a-laptop");
      const f = await failureOf(send(app, a, { toUserId: b, body: [text("deny me")] }));
      const detail = f.err.findDetails(ErrorDetailSchema)[0];
      expect([f.code, ErrorReason[f.reason], detail?.appCode, detail?.appText]).toEqual([
        Code.PermissionDenied,
        "BLOCKED_BY_WEBHOOK",
        APP_CODE,
        APP_TEXT,
      ]);
      const [event] = await waitForEvents(serve, before, a, b, 1);
      expect(event?.verdict).toBe("denied");
      await expectOnlySentinel({ a, b, bDevice, aOther });
      bDevice.close();
      aOther.close();
    });

    it("DENY releases the retry key: the same client message id is evaluated afresh", async () => {
      const [a, b] = await users(app, 2);
      const denied = await failureOf(
        send(app, a, { toUserId: b, body: [text("deny me")], clientMessageId: "retry-1" }),
      );
      expect(denied.reason).toBe(ErrorReason.BLOCKED_BY_WEBHOOK);
      const retried = await send(app, a, {
        toUserId: b,
        body: [text("edited")],
        clientMessageId: "retry-1",
      });
      expect([retried.seq, retried.duplicate]).toEqual([1n, false]);
      expect((await history(app, b, a)).map((m) => m.body)).toEqual([[text("edited")]]);
    });

    it("DROP: the sender is told it succeeded (seq 0); nothing is stored, delivered or reported", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const aOther = await openStream(app.baseUrl, a, "a-laptop");
      const res = await send(app, a, { toUserId: b, body: [text("drop me")] });
      expect([res.seq, res.messageKey, res.duplicate]).toEqual([0n, "", false]);
      expect(res.conversationId).not.toBe("");
      expect(Number(res.timeMs)).toBeGreaterThan(Date.now() - 10_000);
      const [event] = await waitForEvents(serve, before, a, b, 1);
      expect(event?.verdict).toBe("dropped");
      await expectOnlySentinel({ a, b, bDevice, aOther });
      bDevice.close();
      aOther.close();
    });

    it("MODIFY: recipient, sender's other devices, history and after-send all get the modified body and custom data", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const aOther = await openStream(app.baseUrl, a, "a-laptop");
      const res = await send(app, a, {
        toUserId: b,
        body: [text("modify me")],
        cloudCustomData: "original",
      });
      const modified = [
        text("modified by the app"),
        el({ case: "custom", value: { data: '{"card":1}' } }),
      ];
      const ccd = '{"censored":true}';
      expect(res.seq).toBe(1n);
      for (const device of [bDevice, aOther]) {
        const [live] = await device.waitForMessages(1);
        expect([live?.body, live?.cloudCustomData]).toEqual([modified, ccd]);
      }
      expect((await history(app, b, a)).map((m) => [m.body, m.cloudCustomData])).toEqual([
        [modified, ccd],
      ]);
      const [beforeEvent] = await waitForEvents(serve, before, a, b, 1);
      expect([beforeEvent?.verdict, beforeEvent?.body]).toEqual(["modified", [text("modify me")]]);
      const [afterEvent] = await waitForEvents(serve, after, a, b, 1);
      expect(afterEvent).toMatchObject({
        body: modified,
        cloudCustomData: ccd,
        seq: 1n,
        msgKey: res.messageKey,
        msgTimeMs: res.timeMs,
      });
      expect(res.messageKey).toBe(`${res.conversationId}:1`);
      bDevice.close();
      aOther.close();
    });

    it("MODIFY of the body only keeps the original custom data", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const res = await send(app, a, {
        toUserId: b,
        body: [text("well darn it")],
        cloudCustomData: "keep me",
      });
      await expectDeliveredAsSent(
        app,
        serve,
        { a, b, bDevice },
        res,
        { body: [text("well d**n it")], cloudCustomData: "keep me" },
        "modified",
      );
      bDevice.close();
    });

    it("an invalid MODIFY (empty text) delivers the original unchanged", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const res = await send(app, a, {
        toUserId: b,
        body: [text("break me")],
        cloudCustomData: "c",
      });
      await expectDeliveredAsSent(
        app,
        serve,
        { a, b, bDevice },
        res,
        { body: [text("break me")], cloudCustomData: "c" },
        "invalid-modification",
      );
      bDevice.close();
    });
  });

  describe("before-send failing: the original is delivered unchanged, once", () => {
    it.each([
      ["a deny that comes after the timeout", "slow deny", "timed-out"],
      ["a closed connection", "hangup", "endpoint-error"],
      ["HTTP 503", "busy", "endpoint-error"],
      ["a malformed body", "garbage", "endpoint-error"],
    ])("on %s", async (_case, message, verdict) => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const { value: res, ms } = await timed(() =>
        send(app, a, { toUserId: b, body: [text(message)] }),
      );
      await expectDeliveredAsSent(
        app,
        serve,
        { a, b, bDevice },
        res,
        { body: [text(message)] },
        verdict,
      );
      // The server reached the same verdict itself: a failure that is not a timeout ended
      // the wait at once rather than running into the timeout.
      const [event] = await eventsNamed(serve, before, a, b);
      expect(appLog.verdictOf(event?.eventId ?? "")).toBe(verdict);
      if (verdict === "timed-out") {
        timeoutLatencies.push(
          `${backend}: ${SHORT_TIMEOUT_MS} ms timeout -> sender waited ${ms.toFixed(0)} ms`,
        );
        expect(ms).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 5);
      }
      // No retry: serve saw exactly one before-send request for it.
      await sleep(100);
      expect(await eventsNamed(serve, before, a, b)).toHaveLength(1);
      bDevice.close();
    });

    it("with the default 2 s timeout, a late answer is not waited for: the original is delivered after the 2 s", async () => {
      const [a, b] = await users(app2s, 2);
      const bDevice = await openStream(app2s.baseUrl, b);
      const { value: res, ms } = await timed(() =>
        send(app2s, a, { toUserId: b, body: [text("slow")] }),
      );
      timeoutLatencies.push(
        `${backend}: ${DEFAULT_TIMEOUT_MS} ms timeout -> sender waited ${ms.toFixed(0)} ms`,
      );
      // Waited for the timeout, and not for the answer (due only after SLOW_MS): the
      // server concluded "timed-out" on its own.
      expect(ms).toBeGreaterThanOrEqual(DEFAULT_TIMEOUT_MS - TIMEOUT_TOLERANCE_MS);
      const [event] = await eventsNamed(serve2s, before, a, b);
      expect(app2sLog.verdictOf(event?.eventId ?? "")).toBe("timed-out");
      await expectDeliveredAsSent(
        app2s,
        serve2s,
        { a, b, bDevice },
        res,
        { body: [text("slow")] },
        "timed-out",
      );
      bDevice.close();
    });

    it("a send whose caller's deadline passes while the webhook is waited for is not stored", async () => {
      const [a, b] = await users(app2s, 2);
      const req = { toUserId: b, body: [text("slow")], clientMessageId: "gave-up" };
      const gaveUp = await failureOf(messages(app2s, a).sendMessage(req, { timeoutMs: 1000 }));
      expect(gaveUp.code).toBe(Code.DeadlineExceeded);
      // The server stops once the webhook's 2 s are over (it logs the timeout, then finds
      // the caller gone): nothing stored or reported...
      const [event] = await waitForEvents(serve2s, before, a, b, 1);
      await eventually(
        async () => expect(app2sLog.verdictOf(event?.eventId ?? "")).toBe("timed-out"),
        DEFAULT_TIMEOUT_MS + 15_000,
      );
      expect(await history(app2s, b, a)).toHaveLength(0);
      expect(await eventsNamed(serve2s, after, a, b)).toHaveLength(0);
      // ...and the retry is a new send, not a duplicate.
      const retried = await send(app2s, a, req);
      expect([retried.seq, retried.duplicate]).toEqual([1n, false]);
    });

    it("with the default 2 s timeout, a deny after 1.5 s still denies (0.5 s of slack for a loaded machine)", async () => {
      const [a, b] = await users(app2s, 2);
      const { value: f, ms } = await timed(() =>
        failureOf(send(app2s, a, { toUserId: b, body: [text("late deny")] })),
      );
      const detail = f.err.findDetails(ErrorDetailSchema)[0];
      expect([f.code, ErrorReason[f.reason], detail?.appCode, detail?.appText]).toEqual([
        Code.PermissionDenied,
        "BLOCKED_BY_WEBHOOK",
        9,
        "late but in time",
      ]);
      expect(ms).toBeGreaterThanOrEqual(1500);
      expect(await history(app2s, b, a)).toHaveLength(0);
      const [event] = await waitForEvents(serve2s, before, a, b, 1);
      expect(event?.verdict).toBe("denied");
    });

    it("on a refused connection (nothing listens at WEBHOOK_URL)", async () => {
      const closedPort = await freePort();
      const refusedLog = webhookLog();
      const refused = await startTestApp(webhookEnv(`http://127.0.0.1:${closedPort}/hook`), {
        logger: refusedLog.logger,
      });
      try {
        const [a, b] = await users(refused, 2);
        const bDevice = await openStream(refused.baseUrl, b);
        const res = await send(refused, a, { toUserId: b, body: [text("deny me")] });
        // An endpoint error, not a wait into the 2 s timeout.
        expect(refusedLog.verdicts(before)).toEqual(["endpoint-error"]);
        expect(res.seq).toBe(1n);
        const [live] = await bDevice.waitForMessages(1);
        expect(live?.body).toEqual([text("deny me")]);
        expect((await history(refused, b, a)).map((m) => m.body)).toEqual([[text("deny me")]]);
        bDevice.close();
      } finally {
        await refused.close();
      }
    });

    it("when the endpoint rejects the signature (a serve with another secret): endpoint error", async () => {
      const other = await startSimServeInProcess({
        // Would deny everything, were the request accepted.
        rules: { rules: [], default: { action: "deny", code: 1, text: "must not be seen" } },
        secret: "some-other-secret",
        timeoutMs: SHORT_TIMEOUT_MS,
        recordPath: dir.file("other-secret.jsonl"),
      });
      // The message's two requests only (a stream's login would be a third).
      const forged = await startTestApp(
        webhookEnv(other.url, { WEBHOOK_EVENTS: "c2c-before-send,c2c-after-send" }),
      );
      try {
        const [a, b] = await users(forged, 2);
        const bDevice = await openStream(forged.baseUrl, b);
        const res = await send(forged, a, { toUserId: b, body: [text("hello")] });
        expect(res.seq).toBe(1n);
        const [live] = await bDevice.waitForMessages(1);
        expect(live?.body).toEqual([text("hello")]);
        expect(await history(forged, b, a)).toHaveLength(1);
        // Before-send and after-send were both refused with 401 and nothing was recorded.
        await eventually(async () => expect(other.stats).toEqual({ accepted: 0, rejected: 2 }));
        expect(await other.recorded()).toEqual([]);
        bDevice.close();
      } finally {
        await forged.close();
        await other.stop();
      }
    });
  });

  describe("after-send", () => {
    it("fires exactly once per delivered message, with its seq and key", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const count = 20;
      const batch = (i: number): SendInit => ({
        toUserId: b,
        body: [text(`batch ${i}`)],
        clientMessageId: `batch-${i}`,
      });
      const sent = await Promise.all(
        Array.from({ length: count }, (_, i) => send(app, a, batch(i))),
      );
      await bDevice.waitForMessages(count);
      // Client retries of delivered messages are answered from the store: no new hook calls.
      const retries = await Promise.all([0, 1, 2].map((i) => send(app, a, batch(i))));
      expect(retries.map((r) => [r.duplicate, r.seq])).toEqual(
        [0, 1, 2].map((i) => [true, sent[i]?.seq]),
      );
      const events = await waitForEvents(serve, after, a, b, count);
      // Late duplicates (a redelivered fan-out event) would show up here.
      await sleep(300);
      expect(await eventsNamed(serve, after, a, b)).toHaveLength(count);
      const byKey = (xs: { seq?: bigint; msgKey?: string }[]) =>
        xs.map((x) => `${x.seq}/${x.msgKey}`).sort();
      expect(byKey(events)).toEqual(byKey(sent.map((r) => ({ seq: r.seq, msgKey: r.messageKey }))));
      expect(new Set(events.map((e) => e.seq)).size).toBe(count);
      expect(await eventsNamed(serve, before, a, b)).toHaveLength(count);
      bDevice.close();
    });

    it("never delays the sender or delivery: both sends are delivered while the endpoint holds both after-send replies", async () => {
      // The endpoint answers after-send only when the test says so, and the server's
      // timeout is longer than the test's: a sender that waited for the reply (or for the
      // timeout) would never be acked here.
      const release = deferred();
      const endpoint = await startTestServer(async (req, res) => {
        if (decodeWebhookRequest(req.body).event.case === "c2cAfterSend") await release.promise;
        replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" });
      });
      const heldLog = webhookLog();
      const held = await startTestApp(
        webhookEnv(endpoint.url, {
          WEBHOOK_TIMEOUT_MS: "20000",
          MESSAGE_CLAIM_LEASE_MS: "25000",
          SHUTDOWN_GRACE_MS: "25000",
        }),
        { logger: heldLog.logger },
      );
      try {
        const [a, b] = await users(held, 2);
        const bDevice = await openStream(held.baseUrl, b);
        for (const [i, body] of ["held after-send 1", "held after-send 2"].entries()) {
          await send(held, a, { toUserId: b, body: [text(body)] });
          await bDevice.waitForMessages(i + 1);
        }
        // Both requests reached the endpoint, unanswered, and no outcome is known yet.
        const afterSends = () =>
          endpoint.received.filter(
            (r) => decodeWebhookRequest(r.body).event.case === "c2cAfterSend",
          );
        await eventually(async () => expect(afterSends()).toHaveLength(2));
        expect(heldLog.verdicts(after)).toEqual([]);
        bDevice.close();
      } finally {
        release.resolve();
        await held.close();
        await endpoint.close();
      }
    });

    it("ignores the reply (deny, 500, closed connection) and never retries", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const bodies = ["after-send deny", "after-send busy", "after-send hangup"];
      for (const body of bodies) await send(app, a, { toUserId: b, body: [text(body)] });
      await bDevice.waitForMessages(3);
      const events = await waitForEvents(serve, after, a, b, 3);
      expect(events.map((e) => [e.text, e.verdict]).sort()).toEqual([
        ["after-send busy", "endpoint-error"],
        ["after-send deny", "acknowledged"],
        ["after-send hangup", "endpoint-error"],
      ]);
      await sleep(SHORT_TIMEOUT_MS + 100);
      expect(await eventsNamed(serve, after, a, b)).toHaveLength(3);
      expect((await history(app, b, a)).map((m) => m.body)).toEqual(bodies.map((t) => [text(t)]));
      bDevice.close();
    });
  });

  describe("configuration and per-message controls", () => {
    it("WEBHOOK_EVENTS=c2c-after-send: no before-send request is made", async () => {
      const afterOnly = await startTestApp(
        webhookEnv(serve.url, { WEBHOOK_EVENTS: after, WEBHOOK_TIMEOUT_MS: "300" }),
      );
      try {
        const [a, b] = await users(afterOnly, 2);
        const bDevice = await openStream(afterOnly.baseUrl, b);
        const res = await send(afterOnly, a, { toUserId: b, body: [text("deny me")] });
        expect(res.seq).toBe(1n);
        await bDevice.waitForMessages(1);
        const [event] = await waitForEvents(serve, after, a, b, 1);
        expect([event?.text, event?.seq]).toEqual(["deny me", 1n]);
        expect(await eventsNamed(serve, before, a, b)).toEqual([]);
        bDevice.close();
      } finally {
        await afterOnly.close();
      }
    });

    it("an admin's skip_before_send_webhook / skip_after_send_webhook suppress that hook only", async () => {
      const [a, b] = await users(app, 2);
      const bDevice = await openStream(app.baseUrl, b);
      const admin = messages(app, ADMIN);
      // Would be denied, but before-send is skipped.
      const skippedBefore = await admin.sendMessage({
        fromUserId: a,
        toUserId: b,
        body: [text("deny me")],
        options: { skipBeforeSendWebhook: true },
      });
      const skippedAfter = await admin.sendMessage({
        fromUserId: a,
        toUserId: b,
        body: [text("no after-send for me")],
        options: { skipAfterSendWebhook: true },
      });
      const both = await admin.sendMessage({
        fromUserId: a,
        toUserId: b,
        body: [text("deny me")],
        options: { skipBeforeSendWebhook: true, skipAfterSendWebhook: true },
      });
      const plain = await admin.sendMessage({ fromUserId: a, toUserId: b, body: [text("plain")] });
      expect([skippedBefore.seq, skippedAfter.seq, both.seq, plain.seq]).toEqual([1n, 2n, 3n, 4n]);
      await bDevice.waitForMessages(4);
      const afterEvents = await waitForEvents(serve, after, a, b, 2);
      await sleep(200);
      const all = await serve.c2cEvents(a, b);
      const summary = (es: C2cEventFacts[], name: string) =>
        es.filter((e) => e.name === name).map((e) => e.text);
      expect(summary(all, before)).toEqual(["no after-send for me", "plain"]);
      expect(summary(all, after).sort()).toEqual(["deny me", "plain"]);
      expect(afterEvents.find((e) => e.text === "deny me")?.seq).toBe(1n);
      bDevice.close();
    });
  });

  it("serve's recording replays with webhook-sim replay: same verdicts against the same rules, changes flagged against others", async () => {
    // A session of its own: one message per verdict of the table, between fresh users.
    const [a, b] = await users(app, 2);
    const delivered = ["hello", "modify me", "break me", "slow", "busy"];
    for (const t of delivered) await send(app, a, { toUserId: b, body: [text(t)] });
    await send(app, a, { toUserId: b, body: [text("drop me")] });
    await failureOf(send(app, a, { toUserId: b, body: [text("deny me")] }));
    await waitForEvents(serve, before, a, b, delivered.length + 2);
    await waitForEvents(serve, after, a, b, delivered.length);
    // The snapshot holds this session's lines only (serve records other tests' too).
    const lines = (await readFile(serve.recordPath, "utf8"))
      .split("\n")
      .filter((l) => l.includes(`"${a}"`) && l.includes(`"${b}"`));
    const snapshot = dir.file("session.jsonl");
    await writeFile(snapshot, `${lines.join("\n")}\n`);
    const recorded = await serve.c2cEvents(a, b);
    expect(recorded).toHaveLength(lines.length);
    const recordedVerdicts = recorded.map((e) => e.verdict);
    expect(new Set(recordedVerdicts)).toEqual(
      new Set([
        "delivered-as-is",
        "modified",
        "denied",
        "dropped",
        "timed-out",
        "endpoint-error",
        "invalid-modification",
        "acknowledged",
      ]),
    );

    // Replayed with the contract's 2 s timeout, not the session's 300 ms: answers that came
    // at once still come well within it on a loaded machine, and the one that timed out
    // ("slow", SLOW_MS) times out again.
    const same = await startSimServeInProcess({
      rules: RULES,
      secret: SECRET,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      recordPath: dir.file("replayed.jsonl"),
    });
    const allowAll = await startSimServeInProcess({
      rules: { rules: [] },
      secret: SECRET,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      recordPath: dir.file("replayed-allow.jsonl"),
    });
    try {
      const replay = (url: string, ...extra: string[]) =>
        runSimCli(
          [
            "replay",
            snapshot,
            "--url",
            url,
            "--timeout",
            String(DEFAULT_TIMEOUT_MS),
            "--concurrency",
            "8",
            ...extra,
          ],
          { WEBHOOK_SECRET: SECRET },
        );

      const json = await replay(same.url, "--json");
      expect(json.stderr).toBe("");
      expect(json.code).toBe(0);
      const output = json.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const events = output.filter((l) => l.type === "event");
      const summary = output.find((l) => l.type === "summary");
      expect(events).toHaveLength(recorded.length);
      expect(events.filter((e) => e.changed !== false)).toEqual([]);
      expect(summary).toMatchObject({
        total: recorded.length,
        changed: 0,
        compared: recorded.length,
      });
      // Replay signed every event with the secret and kept the server's event ids.
      expect(same.stats.rejected).toBe(0);
      expect((await same.recorded()).map((e) => e.request.eventId).sort()).toEqual(
        recorded.map((e) => e.eventId).sort(),
      );

      // Against an endpoint that allows everything, each recorded non-allow verdict is flagged.
      const expectChanged = recorded.filter(
        (e) => e.verdict !== "delivered-as-is" && e.verdict !== "acknowledged",
      ).length;
      const human = await replay(allowAll.url, "--fail-on", "delivered-as-is");
      expect(human.code).toBe(1);
      expect(human.stdout).toContain("CHANGED: recorded verdict was denied");
      expect(human.stdout).toContain("CHANGED: recorded verdict was dropped");
      expect(human.stdout).toContain(
        `changed vs recording: ${expectChanged} of ${recorded.length}`,
      );
      expect(human.stdout).toContain("FAIL: events ended in delivered-as-is (--fail-on)");
    } finally {
      await same.stop();
      await allowAll.stop();
    }
  });
});

describe("webhook configuration at start-up", () => {
  it.each([
    [{ WEBHOOK_URL: "ftp://x", WEBHOOK_SECRET: "s" }, "WEBHOOK_URL: must be http:// or https://"],
    [{ WEBHOOK_URL: "not a url", WEBHOOK_SECRET: "s" }, "WEBHOOK_URL: not a URL"],
    [{ WEBHOOK_SECRET: "s" }, "WEBHOOK_URL: required"],
    [{ WEBHOOK_URL: "http://127.0.0.1:9/" }, "WEBHOOK_SECRET: required"],
    [
      { WEBHOOK_URL: "http://127.0.0.1:9/", WEBHOOK_SECRET: "s", WEBHOOK_TIMEOUT_MS: "2s" },
      "WEBHOOK_TIMEOUT_MS: expected an integer",
    ],
    [
      { WEBHOOK_URL: "http://127.0.0.1:9/", WEBHOOK_SECRET: "s", WEBHOOK_TIMEOUT_MS: "0" },
      "WEBHOOK_TIMEOUT_MS: must be between",
    ],
    [
      {
        WEBHOOK_URL: "http://127.0.0.1:9/",
        WEBHOOK_SECRET: "s",
        WEBHOOK_EVENTS: "c2c-before-sned",
      },
      'WEBHOOK_EVENTS: unknown event "c2c-before-sned"',
    ],
  ])("refuses %o", async (env, message) => {
    await expect(startTestApp(env)).rejects.toThrow(message);
  });

  it("the server process (npm start) exits 2 naming the variable", async () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", PORT: "0", WEBHOOK_URL: "ftp://x", WEBHOOK_SECRET: "s" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect([code, out.trim()]).toEqual([
      2,
      'invalid configuration: WEBHOOK_URL: must be http:// or https://, got "ftp://x"',
    ]);
  });
});

afterAll(() => {
  // Measured accuracy, for the record (CI logs); the assertions are in the tests.
  if (timeoutLatencies.length > 0) console.info(timeoutLatencies.join("\n"));
});
