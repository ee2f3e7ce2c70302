import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  C2cAfterSendEventSchema,
  C2cBeforeSendEventSchema,
  GroupAfterCreateEventSchema,
  GroupBeforeSendEventSchema,
  WebhookCommand,
} from "../gen/im/v1/webhook_pb.js";
import { createLogger, silentLogger } from "../log/logger.js";
import { createWebhookClient, type WebhookClient } from "./client.js";
import type { WebhookConfig } from "./config.js";
import { decodeWebhookRequest } from "./encoding.js";
import type { AfterSendEvent, BeforeSendEvent, WebhookEventName } from "./events.js";
import { WEBHOOK_EVENT_NAMES } from "./events.js";
import { fetchTransport } from "./http-caller.js";
import { refusedUrl, replyJson, startTestServer, type TestServer } from "./test-server.js";

const NOW = 1_750_000_000_000;
const accept = () => undefined;

const before: BeforeSendEvent = {
  case: "c2cBeforeSend",
  value: create(C2cBeforeSendEventSchema, {
    fromAccount: "alice",
    toAccount: "bob",
    random: 42,
    body: [{ element: { case: "text", value: { text: "hello" } } }],
    cloudCustomData: "cc",
  }),
};
const after: AfterSendEvent = {
  case: "c2cAfterSend",
  value: create(C2cAfterSendEventSchema, {
    fromAccount: "alice",
    toAccount: "bob",
    body: [{ element: { case: "text", value: { text: "hello" } } }],
    seq: 3n,
    msgKey: "k",
    msgTimeMs: BigInt(NOW),
  }),
};

const servers: TestServer[] = [];
const clients: WebhookClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const serve = async (...args: Parameters<typeof startTestServer>): Promise<TestServer> => {
  const server = await startTestServer(...args);
  servers.push(server);
  return server;
};

function setup(
  url: string,
  options: {
    events?: readonly WebhookEventName[];
    timeoutMs?: number;
    maxInFlight?: number;
    lines?: string[];
  } = {},
): WebhookClient {
  const config: WebhookConfig = {
    url,
    secret: "s",
    enabledEvents: new Set(options.events ?? WEBHOOK_EVENT_NAMES),
    timeoutMs: options.timeoutMs ?? 2000,
    appId: "1400000000",
  };
  let n = 0;
  const lines = options.lines;
  const client = createWebhookClient({
    config,
    logger:
      lines === undefined
        ? silentLogger
        : createLogger({ level: "debug", write: (line) => lines.push(line) }),
    clock: () => NOW,
    newEventId: () => `evt-${++n}`,
    ...(options.maxInFlight === undefined ? {} : { maxInFlightNotifications: options.maxInFlight }),
  });
  clients.push(client);
  return client;
}

describe("createWebhookClient: beforeSend", () => {
  it("sends the envelope and applies the reply", async () => {
    const server = await serve((_req, res) =>
      replyJson(res, {
        action: "BEFORE_SEND_ACTION_DENY",
        appCode: 120001,
        appText: "blocked word",
      }),
    );
    const client = setup(server.url);
    expect(await client.beforeSend(before, accept)).toEqual({
      kind: "denied",
      appCode: 120001,
      appText: "blocked word",
    });
    const request = decodeWebhookRequest(server.received[0]?.body ?? "");
    expect(request.command).toBe(WebhookCommand.C2C_BEFORE_SEND);
    expect(request.appId).toBe("1400000000");
    expect(request.eventId).toBe("evt-1");
    expect(request.eventTimeMs).toBe(BigInt(NOW));
    expect(request.event.case === "c2cBeforeSend" && request.event.value.random).toBe(42);
    expect(client.stats().beforeSend.denied).toBe(1);
  });

  it("validates a modification with the caller's validator", async () => {
    const server = await serve((_req, res) =>
      replyJson(res, {
        action: "BEFORE_SEND_ACTION_MODIFY",
        body: [{ text: { text: "" } }],
      }),
    );
    const client = setup(server.url);
    const verdict = await client.beforeSend(
      { case: "groupBeforeSend", value: create(GroupBeforeSendEventSchema, { groupId: "g1" }) },
      (body) =>
        body[0]?.element.case === "text" && body[0].element.value.text === ""
          ? "empty text"
          : undefined,
    );
    expect(verdict).toEqual({ kind: "invalid-modification", reason: "empty text" });
    expect(client.stats().beforeSend["invalid-modification"]).toBe(1);
  });

  it("fails open on timeout, counts it and logs a warning with the event id", async () => {
    // Never answers (held until the server closes): only the timeout can end the call.
    const server = await serve(() => new Promise<void>(() => {}));
    const lines: string[] = [];
    const client = setup(server.url, { timeoutMs: 200, lines });
    expect(await client.beforeSend(before, accept)).toEqual({ kind: "timed-out" });
    expect(client.stats().beforeSend["timed-out"]).toBe(1);
    const warning = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.level === "warn");
    expect(warning).toMatchObject({
      component: "webhooks",
      event: "c2c-before-send",
      eventId: "evt-1",
      verdict: "timed-out",
    });
  });

  it("fails open when the endpoint is down", async () => {
    const client = setup(await refusedUrl());
    const verdict = await client.beforeSend(before, accept);
    expect(verdict.kind).toBe("endpoint-error");
    expect(client.stats().beforeSend["endpoint-error"]).toBe(1);
  });

  it("sends nothing for a disabled event", async () => {
    const server = await serve((_req, res) =>
      replyJson(res, { action: "BEFORE_SEND_ACTION_DENY" }),
    );
    const client = setup(server.url, { events: ["c2c-after-send"] });
    expect(client.isEnabled("c2c-before-send")).toBe(false);
    expect(await client.beforeSend(before, accept)).toEqual({ kind: "delivered-as-is" });
    expect(server.received).toHaveLength(0);
    expect(client.stats().beforeSend["delivered-as-is"]).toBe(0);
  });

  it("is a no-op without config", async () => {
    const client = createWebhookClient({
      config: undefined,
      logger: silentLogger,
      clock: () => NOW,
    });
    clients.push(client);
    expect(client.isEnabled("c2c-before-send")).toBe(false);
    expect(await client.beforeSend(before, accept)).toEqual({ kind: "delivered-as-is" });
    client.afterSend(after);
    expect(client.stats().notifications.inFlight).toBe(0);
  });

  it("works over an injected fetch", async () => {
    const seen: string[] = [];
    const client = createWebhookClient({
      config: {
        url: "http://endpoint.invalid/hook",
        secret: "s",
        enabledEvents: new Set(WEBHOOK_EVENT_NAMES),
        timeoutMs: 2000,
        appId: "1",
      },
      logger: silentLogger,
      clock: () => NOW,
      transport: fetchTransport(async (url, init) => {
        seen.push(url, String(init.body));
        return new Response('{"action":"BEFORE_SEND_ACTION_DROP"}', { status: 200 });
      }),
    });
    clients.push(client);
    expect(await client.beforeSend(before, accept)).toEqual({ kind: "dropped" });
    expect(seen[0]).toBe("http://endpoint.invalid/hook");
  });
});

describe("createWebhookClient: fire-and-forget events", () => {
  it("returns at once even when the endpoint is slow, and counts the result", async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await serve(async (_req, res) => {
      await released;
      replyJson(res, {});
    });
    const client = setup(server.url);
    client.afterSend(after);
    client.notifyGroupChange({
      case: "groupAfterCreate",
      value: create(GroupAfterCreateEventSchema, { groupId: "g1", name: "G" }),
    });
    // Both calls returned while the endpoint holds both replies.
    expect(client.stats().notifications.inFlight).toBe(2);
    release();
    await client.drain();
    expect(client.stats().notifications).toMatchObject({ acknowledged: 2, inFlight: 0 });
    const commands = server.received.map((r) => decodeWebhookRequest(r.body).command).sort();
    expect(commands).toEqual([WebhookCommand.C2C_AFTER_SEND, WebhookCommand.GROUP_AFTER_CREATE]);
  });

  it("never throws and counts failures: non-2xx, refused, timeout", async () => {
    const failing = await serve((_req, res) => replyJson(res, {}, { status: 500 }));
    const slow = await serve((_req, res) => replyJson(res, {}, { delayMs: 400 }));
    const a = setup(failing.url);
    const b = setup(await refusedUrl());
    const c = setup(slow.url, { timeoutMs: 100 });
    for (const client of [a, b, c]) expect(() => client.afterSend(after)).not.toThrow();
    await Promise.all([a.drain(), b.drain(), c.drain()]);
    expect(a.stats().notifications["endpoint-error"]).toBe(1);
    expect(b.stats().notifications["endpoint-error"]).toBe(1);
    expect(c.stats().notifications["timed-out"]).toBe(1);
  });

  it("drops requests beyond the in-flight limit", async () => {
    const server = await serve((_req, res) => replyJson(res, {}, { delayMs: 200 }));
    const client = setup(server.url, { maxInFlight: 2 });
    for (let i = 0; i < 5; i++) client.afterSend(after);
    expect(client.stats().notifications).toMatchObject({ inFlight: 2, droppedOverload: 3 });
    await client.drain();
    expect(server.received).toHaveLength(2);
  });

  it("snapshots the event when called", async () => {
    const server = await serve((_req, res) => replyJson(res, {}));
    const client = setup(server.url);
    const event: AfterSendEvent = {
      case: "c2cAfterSend",
      value: create(C2cAfterSendEventSchema, { fromAccount: "alice", msgKey: "first" }),
    };
    client.afterSend(event);
    event.value.msgKey = "changed";
    await client.drain();
    const request = decodeWebhookRequest(server.received[0]?.body ?? "");
    expect(request.event.case === "c2cAfterSend" && request.event.value.msgKey).toBe("first");
  });
});
