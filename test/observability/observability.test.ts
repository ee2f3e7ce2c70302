import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "../../src/app.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN, testConfig } from "../support/test-app.js";

// Both run on FerretDB + nats-server: the store latency comes from the MongoDB
// driver, the consumer backlog from JetStream, and the trace crosses a real NATS hop.
const backendEnv = (name: string) => ({
  MONGO_URL: testMongoUrl(),
  MONGO_DATABASE: uniqueName(name),
  NATS_URL: testNatsUrl(),
  NATS_NAMESPACE: uniqueName(name),
});

/** An after-send webhook endpoint that acknowledges everything. */
const startAckingEndpoint = () =>
  startTestServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
const webhookEnv = (endpoint: TestServer) => ({
  WEBHOOK_URL: endpoint.url,
  WEBHOOK_SECRET: "obs-secret",
  WEBHOOK_EVENTS: "c2c-after-send",
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for our own metrics). */
function parseExposition(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = l[2] as string;
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`. */
function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]?.value;
}

describe("Prometheus metrics", () => {
  let app: App;
  let endpoint: TestServer;
  let baseUrl: string;
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return parseExposition(await res.text());
  };

  beforeAll(async () => {
    endpoint = await startAckingEndpoint();
    // Port 0 (a free port) goes through the config object: METRICS_PORT=0 means off.
    const config = testConfig({ ...backendEnv("metrics"), ...webhookEnv(endpoint) });
    app = await startApp({ ...config, metrics: { host: "127.0.0.1", port: 0 } }, silentLogger);
    baseUrl = `http://127.0.0.1:${app.port}`;
    await clientAs(AccountService, baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
  });
  afterAll(async () => {
    await app?.close();
    await endpoint?.close();
  });

  it("is off unless METRICS_PORT is set to a port", () => {
    expect(testConfig().metrics).toBeUndefined();
    expect(testConfig({ METRICS_PORT: "0" }).metrics).toBeUndefined();
    expect(testConfig({ METRICS_PORT: "9464" }).metrics).toEqual({
      host: "127.0.0.1",
      port: 9464,
    });
  });

  it("counts RPCs, sends, fan-out, webhooks, store commands, streams and the consumer backlog", async () => {
    const before = await scrape();
    expect(sampleValue(before, "im_live_streams_open")).toBe(0);

    const bob = await openStream(baseUrl, "bob");
    const alice = clientAs(MessageService, baseUrl, "alice");
    await alice.sendMessage({ toUserId: "bob", body: [text("measured")] });
    const failure = await failureOf(alice.sendMessage({ toUserId: "nobody", body: [text("x")] }));
    await bob.waitForMessages(1);

    const after = await eventually(async () => {
      const s = await scrape();
      // Fan-out and the after-send webhook finish after the ack, and the consumer's
      // ack goes out with a later turn's writes: wait for them.
      expect(sampleValue(s, "im_webhook_requests_total", { event: "c2c-after-send" })).toBe(1);
      expect(sampleValue(s, "im_jetstream_consumer_ack_pending", { consumer: "fanout" })).toBe(0);
      return s;
    });
    const send = { service: "im.v1.MessageService", method: "SendMessage" };
    expect(sampleValue(after, "im_rpc_requests_total", { ...send, code: "ok" })).toBe(1);
    expect(
      sampleValue(after, "im_rpc_requests_total", { ...send, code: codeToString(failure.code) }),
    ).toBe(1);
    expect(sampleValue(after, "im_rpc_duration_seconds_count", send)).toBe(2);
    expect(sampleValue(after, "im_rpc_duration_seconds_bucket", { ...send, le: "+Inf" })).toBe(2);
    expect(sampleValue(after, "im_messages_sent_total", { kind: "c2c", outcome: "stored" })).toBe(
      1,
    );
    expect(sampleValue(after, "im_messages_sent_total", { kind: "c2c", outcome: "failed" })).toBe(
      1,
    );
    expect(sampleValue(after, "im_fanout_deliveries_total", { kind: "c2c" })).toBe(1);
    expect(sampleValue(after, "im_fanout_lag_seconds_count", { kind: "c2c" })).toBe(1);
    expect(
      sampleValue(after, "im_webhook_requests_total", {
        event: "c2c-after-send",
        outcome: "acknowledged",
      }),
    ).toBe(1);
    expect(
      sampleValue(after, "im_webhook_duration_seconds_count", { event: "c2c-after-send" }),
    ).toBe(1);
    expect(sampleValue(after, "im_live_streams_open")).toBe(1);
    // The send inserted its message: the driver's insert commands were timed.
    const inserts = (s: Sample[]) =>
      s.find(
        (x) =>
          x.name === "im_store_command_duration_seconds_count" &&
          x.labels.command === "insert" &&
          x.labels.ok === "true",
      )?.value ?? 0;
    expect(inserts(after)).toBeGreaterThan(inserts(before));
    expect(sampleValue(after, "im_jetstream_consumer_pending", { consumer: "fanout" })).toBe(0);
    expect(sampleValue(after, "im_jetstream_consumer_ack_pending", { consumer: "fanout" })).toBe(0);
    expect(sampleValue(after, "im_outbox_in_flight", { kind: "c2c" })).toBe(0);
    expect(sampleValue(after, "im_outbox_stale_messages", { kind: "c2c" })).toBe(0);
    expect(sampleValue(after, "im_outbox_stale_messages", { kind: "group" })).toBe(0);
    // Ready and the message went out through the live writer.
    expect(sampleValue(after, "im_live_events_written_total")).toBeGreaterThanOrEqual(2);
    bob.close();
  });

  it("counts requests refused before a handler ran, by reason", async () => {
    // Counted from here on: what other tests of this app were refused does not matter.
    const reasons = ["SIG_MISSING", "UNKNOWN_ROUTE", "REQUEST_TOO_LARGE"];
    const rejections = async () => {
      const s = await scrape();
      return reasons.map(
        (reason) =>
          s.find((x) => x.name === "im_requests_rejected_total" && x.labels.reason === reason)
            ?.value ?? 0,
      );
    };
    const before = await rejections();
    const post = (path: string, body = "{}") =>
      fetch(`${baseUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    expect((await post("/im.v1.MessageService/SendMessage")).status).toBe(401);
    expect((await post("/im.v1.Nothing/Here")).status).toBe(404);
    // Refused on its declared length; HTTP/1.1 may cut the upload before the answer is read.
    const big = `{"pad":"${"x".repeat(8 * 1024 * 1024)}"}`;
    const tooLarge = await post("/im.v1.MessageService/SendMessage", big).catch(() => undefined);
    if (tooLarge !== undefined) expect(tooLarge.status).toBe(429);
    const after = await rejections();
    expect(after.map((n, i) => n - (before[i] ?? 0))).toEqual([1, 1, 1]);
  });
});

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** An OTLP/HTTP receiver on loopback taking the JSON encoding (what exporter-trace-otlp-http sends). */
async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans?: { scopeSpans?: { spans?: ReceivedSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("OpenTelemetry traces", () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let endpoint: TestServer;
  let app: App;
  let baseUrl: string;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    endpoint = await startAckingEndpoint();
    app = await startApp(
      testConfig({
        ...backendEnv("traces"),
        ...webhookEnv(endpoint),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      }),
      silentLogger,
    );
    baseUrl = `http://127.0.0.1:${app.port}`;
    await clientAs(AccountService, baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "carol" }, { userId: "dave" }],
    });
  });
  afterAll(async () => {
    await app?.close();
    await endpoint?.close();
    await receiver?.close();
  });

  it("follows one send through the store write, JetStream, fan-out and the webhook in one trace", async () => {
    const sent = await clientAs(MessageService, baseUrl, "carol").sendMessage({
      toUserId: "dave",
      body: [text("traced")],
    });
    expect(sent.seq).toBeGreaterThan(0n);
    const named = (name: string) => {
      const found = receiver.spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0] as ReceivedSpan;
    };
    const spans = await eventually(async () => ({
      rpc: named("im.v1.MessageService/SendMessage"),
      store: named("store message"),
      publish: named(
        `publish ${receiver.spans.find((s) => s.name.startsWith("publish "))?.name.slice(8)}`,
      ),
      fanout: named("fanout c2c"),
      webhook: named("webhook c2c-after-send"),
    }));
    const { rpc, store, publish, fanout, webhook } = spans;
    expect(new Set(Object.values(spans).map((s) => s.traceId)).size).toBe(1);
    expect(rpc.parentSpanId ?? "").toBe("");
    expect(store.parentSpanId).toBe(rpc.spanId);
    expect(publish.parentSpanId).toBe(rpc.spanId);
    // The consumer runs outside the send's context: only the NATS headers link it.
    expect(fanout.parentSpanId).toBe(publish.spanId);
    expect(webhook.parentSpanId).toBe(fanout.spanId);
    // The endpoint got the webhook span's context.
    const [request] = endpoint.received;
    expect(request?.headers.traceparent).toBe(`00-${rpc.traceId}-${webhook.spanId}-01`);
  });
});
