import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { WebhookRequestSchema } from "../gen/im/v1/webhook_pb.js";
import { beforeSendOutcomeOf, decideBeforeSend } from "./decision.js";
import { decodeWebhookRequest, encodeWebhookRequest } from "./encoding.js";
import { contentOf, isBeforeSendEvent } from "./events.js";
import { type HttpTransport, postWebhook, repliedInTime } from "./http-caller.js";
import { sendWebhookRequest } from "./sender.js";
import { COMMAND_HEADER, EVENT_ID_HEADER, TIMESTAMP_HEADER, verifySignature } from "./signing.js";
import { refusedUrl, replyJson, sleep, startTestServer, type TestServer } from "./test-server.js";

const servers: TestServer[] = [];
const serve = async (...args: Parameters<typeof startTestServer>): Promise<TestServer> => {
  const server = await startTestServer(...args);
  servers.push(server);
  return server;
};
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const post = (url: string, timeoutMs = 2000) =>
  postWebhook({ url, body: "{}", headers: {}, timeoutMs });

const request = create(WebhookRequestSchema, {
  command: 1,
  appId: "1400000000",
  eventTimeMs: 1_750_000_000_000n,
  eventId: "evt-1",
  event: {
    case: "c2cBeforeSend",
    value: {
      fromAccount: "alice",
      toAccount: "bob",
      random: 7,
      body: [{ element: { case: "text", value: { text: "hi" } } }],
    },
  },
});

describe("postWebhook against real local endpoints", () => {
  it("times out at the configured 2000 ms when the endpoint never answers", async () => {
    // Held until the server closes: a timeout whatever the machine's load.
    const server = await serve(() => new Promise<void>(() => {}));
    const started = performance.now();
    const result = await post(server.url, 2000);
    const wall = performance.now() - started;
    expect(result.kind).toBe("timeout");
    // Not before the limit, and the reported latency is the call's own.
    expect(result.latencyMs).toBeGreaterThanOrEqual(1995);
    expect(result.latencyMs).toBeLessThanOrEqual(wall + 1);
  });

  it("takes a deny that arrives late but within the timeout", async () => {
    const server = await serve((_req, res) =>
      replyJson(
        res,
        { action: "BEFORE_SEND_ACTION_DENY", appCode: 4001, appText: "spam" },
        // Half the timeout: late, with a margin no scheduling delay here eats.
        { delayMs: 1000 },
      ),
    );
    const result = await post(server.url, 2000);
    expect(result).toMatchObject({ kind: "response", status: 200 });
    expect(result.latencyMs).toBeGreaterThanOrEqual(990);
    const verdict = decideBeforeSend(
      beforeSendOutcomeOf(result),
      { body: [], cloudCustomData: "" },
      () => undefined,
    );
    expect(verdict).toEqual({ kind: "denied", appCode: 4001, appText: "spam" });
  });

  it("times out when the head arrives in time but the body never ends", async () => {
    const server = await serve(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"action":');
      await sleep(1500);
    });
    const result = await post(server.url, 300);
    // The body never ends, so only the call's own limit can end it.
    expect(result.kind).toBe("timeout");
    expect(result.latencyMs).toBeGreaterThanOrEqual(295);
  });

  it("reports a connection closed without a reply", async () => {
    const server = await serve((_req, res) => {
      res.socket?.destroy();
    });
    const result = await post(server.url);
    expect(result.kind).toBe("connection-error");
  });

  it("reports a refused connection with its code", async () => {
    const result = await post(await refusedUrl());
    expect(result).toMatchObject({ kind: "connection-error", code: "ECONNREFUSED" });
    if (result.kind === "connection-error") expect(result.error).toContain("ECONNREFUSED");
  });

  it("returns non-2xx responses with their status and body", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503);
      res.end("busy");
    });
    expect(await post(server.url)).toMatchObject({ kind: "response", status: 503, body: "busy" });
  });

  it("returns a malformed body as is, for the decision to reject", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{not json");
    });
    const result = await post(server.url);
    expect(result).toMatchObject({ kind: "response", status: 200, body: "{not json" });
    expect(beforeSendOutcomeOf(result).kind).toBe("unparseable");
  });

  it("does not follow redirects", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(307, { location: "http://127.0.0.1:1/" });
      res.end();
    });
    expect(await post(server.url)).toMatchObject({ kind: "response", status: 307 });
  });

  it("abandons an oversized reply", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.end("x".repeat(5000));
    });
    const result = await postWebhook({
      url: server.url,
      body: "{}",
      headers: {},
      timeoutMs: 2000,
      maxReplyBytes: 1000,
    });
    expect(result).toMatchObject({ kind: "response", oversized: true, body: "" });
  });
});

describe("sendWebhookRequest", () => {
  it("sends the proto JSON body with verifiable signature headers", async () => {
    const server = await serve((_req, res) =>
      replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" }),
    );
    const result = await sendWebhookRequest(
      { url: server.url, secret: "topsecret", timeoutMs: 2000 },
      request,
      { clock: () => 1_750_000_000_123 },
    );
    expect(result).toMatchObject({ kind: "response", status: 200 });
    const [received] = server.received;
    expect(received?.method).toBe("POST");
    expect(received?.headers["content-type"]).toBe("application/json");
    expect(received?.headers[EVENT_ID_HEADER]).toBe("evt-1");
    expect(received?.headers[COMMAND_HEADER]).toBe("c2c-before-send");
    expect(received?.headers[TIMESTAMP_HEADER]).toBe("1750000000123");
    expect(received?.body).toBe(encodeWebhookRequest(request));
    const check = verifySignature({
      secret: "topsecret",
      body: received?.body ?? "",
      header: (name) => received?.headers[name] as string | undefined,
      nowMs: 1_750_000_000_200,
    });
    expect(check).toEqual({ ok: true });
    // Every field is present for endpoints without generated types, and it round-trips.
    const json = JSON.parse(received?.body ?? "") as Record<string, Record<string, unknown>>;
    expect(json.c2cBeforeSend).toMatchObject({
      onlineOnly: false,
      cloudCustomData: "",
      clientMsgId: "",
    });
    expect(json.eventTimeMs).toBe("1750000000000");
    const decoded = decodeWebhookRequest(received?.body ?? "");
    expect(isBeforeSendEvent(decoded.event as never)).toBe(true);
    if (decoded.event.case === "c2cBeforeSend")
      expect(contentOf(decoded.event).body).toHaveLength(1);
  });
});

describe("the deadline is strict (injected clock, no wall time)", () => {
  // A transport that answers (or fails) at once; the injected clock says when that was.
  const instant = (fail = false): HttpTransport => ({
    post: () =>
      fail
        ? Promise.reject(Object.assign(new Error("reset"), { code: "ECONNRESET" }))
        : Promise.resolve({
            status: 200,
            body: '{"action":"BEFORE_SEND_ACTION_DENY"}',
            oversized: false,
          }),
    close: () => {},
  });
  const at = (endMs: number) => {
    const times = [0, endMs];
    return () => times.shift() ?? endMs;
  };
  const call = (endMs: number, fail = false) =>
    postWebhook({
      url: "http://x/",
      body: "{}",
      headers: {},
      timeoutMs: 2000,
      transport: instant(fail),
      now: at(endMs),
    });

  it("a reply after the limit never wins, even before the timer fires", async () => {
    expect((await call(2000.8)).kind).toBe("timeout");
    expect((await call(2001)).kind).toBe("timeout");
  });

  it("a reply at or before the limit counts", async () => {
    expect((await call(1999.9)).kind).toBe("response");
    expect((await call(2000)).kind).toBe("response");
  });

  it("a failure after the limit is a timeout, not an endpoint error", async () => {
    expect((await call(2000.5, true)).kind).toBe("timeout");
    expect((await call(1500, true)).kind).toBe("connection-error");
  });

  it("one rule decides", () => {
    expect(repliedInTime(2000, 2000)).toBe(true);
    expect(repliedInTime(2000.01, 2000)).toBe(false);
  });
});
