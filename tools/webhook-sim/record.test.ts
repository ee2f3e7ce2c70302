import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import {
  type BeforeSendEvent,
  buildWebhookHttpRequest,
  createWebhookClient,
  decodeWebhookRequest,
  type HttpTransport,
  postWebhook,
  proxyBudgetMs,
  WEBHOOK_EVENT_NAMES,
} from "../../src/webhooks/index.js";
import { replyJson, startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { runCli } from "./cli.js";
import { createJsonlWriter, type RecordLine } from "./events-file.js";
import { startRecord } from "./record.js";
import { c2cText, jsonLines, tempDir, testIo } from "./test-helpers.js";
import { createBodyValidator } from "./validate-body.js";

const validate = createBodyValidator();
const SECRET = "rec-secret";

const textOf = (body: string): string => {
  const e = decodeWebhookRequest(body).event;
  return e.case === "c2cBeforeSend" && e.value.body[0]?.element.case === "text"
    ? e.value.body[0].element.value.text
    : "";
};

const event = (text: string): BeforeSendEvent => {
  const e = c2cText(text).event;
  if (e.case !== "c2cBeforeSend") throw new Error("unreachable");
  return e;
};

describe("webhook-sim record", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let target: TestServer;
  let proxy: Awaited<ReturnType<typeof startRecord>>;
  let out: ReturnType<typeof createJsonlWriter>;
  const log: string[] = [];
  /** What the server concluded for each event of the recorded session, in order. */
  let verdicts: string[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    // The "real" endpoint: v1 of the developer's webhook.
    target = await startTestServer((req, res) => {
      switch (textOf(req.body)) {
        case "deny":
          return replyJson(res, { action: "BEFORE_SEND_ACTION_DENY", appCode: 5, appText: "v1" });
        case "modify":
          return replyJson(res, { action: "BEFORE_SEND_ACTION_MODIFY", cloudCustomData: "v1" });
        case "slow":
          // Never answers (held until the target closes): a timeout whatever the load.
          return new Promise<void>(() => {});
        case "hangup":
          res.socket?.destroy();
          return;
        default:
          return replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" });
      }
    });
    out = createJsonlWriter(dir.file("session.jsonl"));
    proxy = await startRecord({
      host: "127.0.0.1",
      port: 0,
      target: target.url,
      timeoutMs: 2000,
      out,
      secret: SECRET,
      validateBody: validate,
      clock: Date.now,
      log: (line) => log.push(line),
    });
    // The session every test reads: one event per behaviour, through the proxy as the
    // server would send them.
    const client = createWebhookClient({
      config: {
        url: proxy.url,
        secret: SECRET,
        enabledEvents: new Set(WEBHOOK_EVENT_NAMES),
        // Longer than the proxy's 2 s: the proxy has recorded the timeout when the client
        // gives up, and the answers that do come are far inside both on a loaded machine.
        timeoutMs: 5000,
        appId: "1400000000",
      },
      logger: silentLogger,
      clock: Date.now,
    });
    verdicts = (
      await Promise.all(
        ["allow", "deny", "modify", "slow", "hangup"].map((t) =>
          client.beforeSend(event(t), validate),
        ),
      )
    ).map((v) => v.kind);
    await client.close();
    await out.close();
  });
  afterAll(async () => {
    await proxy.close();
    await out.close();
    await target.close();
    await dir.remove();
  });

  it("passes events through unchanged, relays replies and records both with the verdict", async () => {
    expect(verdicts).toEqual([
      "delivered-as-is",
      "denied",
      "modified",
      "timed-out",
      "endpoint-error",
    ]);
    // The target saw the server's exact bytes and signature.
    expect(target.received[0]?.headers["x-im-signature"]).toMatch(/^[0-9a-f]{64}$/);

    const records = (await readFile(dir.file("session.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as RecordLine);
    const byText = new Map(records.map((r) => [textOf(JSON.stringify(r.event)), r]));
    expect(byText.get("deny")).toMatchObject({
      verdict: "denied",
      reply: { outcome: "response", status: 200 },
    });
    const denyReply = byText.get("deny")?.reply as { body: string } | undefined;
    expect(JSON.parse(denyReply?.body ?? "")).toEqual({
      action: "BEFORE_SEND_ACTION_DENY",
      appCode: 5,
      appText: "v1",
    });
    expect(byText.get("slow")).toMatchObject({
      verdict: "timed-out",
      reply: { outcome: "timeout" },
    });
    expect(byText.get("hangup")).toMatchObject({
      verdict: "endpoint-error",
      reply: { outcome: "connection-error" },
    });
    expect(byText.get("allow")?.verdict).toBe("delivered-as-is");
  });

  it("rejects forged requests without forwarding them", async () => {
    const before = target.received.length;
    const res = await fetch(proxy.url, {
      method: "POST",
      headers: { "x-im-timestamp": String(Date.now()), "x-im-signature": "0".repeat(64) },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(target.received.length).toBe(before);
  });

  it("replays the session against a changed endpoint and shows what changed", async () => {
    // v2 of the developer's webhook denies everything.
    const v2 = await startTestServer((_req, res) =>
      replyJson(res, { action: "BEFORE_SEND_ACTION_DENY", appCode: 6, appText: "v2" }),
    );
    try {
      const { io, stdout } = testIo();
      const code = await runCli(
        [
          "replay",
          dir.file("session.jsonl"),
          "--url",
          v2.url,
          "--secret",
          SECRET,
          "--json",
          "--fail-on",
          "denied",
        ],
        io,
      );
      expect(code).toBe(1);
      const lines = jsonLines(stdout.text());
      const summary = lines.at(-1);
      expect(summary).toMatchObject({ compared: 5, changed: 4, counts: { denied: 5 } });
      expect(lines.filter((l) => l.changed === true)).toHaveLength(4);
    } finally {
      await v2.close();
    }
  });
});

describe("webhook-sim record at the timeout edge (injected clocks)", () => {
  const SIGNED_AT = 1_767_225_600_000;
  let replyAtMs = 0;
  let t = 0;
  // The endpoint answers DENY at once; the injected monotonic clock says it took replyAtMs.
  const endpoint: HttpTransport = {
    post: () => {
      t = replyAtMs;
      return Promise.resolve({
        status: 200,
        body: JSON.stringify({ action: "BEFORE_SEND_ACTION_DENY", appCode: 1, appText: "late" }),
        oversized: false,
      });
    },
    close: () => {},
  };

  it("labels a reply at 1,995-2,000 ms timed-out and withholds it, as the server decides", async () => {
    const dir = await tempDir();
    const out = createJsonlWriter(dir.file("edge.jsonl"));
    const proxy = await startRecord({
      host: "127.0.0.1",
      port: 0,
      target: "http://endpoint.invalid/",
      timeoutMs: 2000,
      out,
      secret: SECRET,
      validateBody: validate,
      clock: () => SIGNED_AT,
      now: () => t,
      transport: endpoint,
      log: () => {},
    });
    try {
      const outcomes: string[] = [];
      for (const [i, at] of [1990, 1995.5, 1997, 2000].entries()) {
        replyAtMs = at;
        t = 0;
        const { body, headers } = buildWebhookHttpRequest(SECRET, c2cText(`edge ${i}`), SIGNED_AT);
        // The server's side: a short real timeout stands in for "the proxy stayed silent".
        const result = await postWebhook({ url: proxy.url, body, headers, timeoutMs: 300 });
        outcomes.push(result.kind);
      }
      await out.close();
      const verdicts = (await readFile(dir.file("edge.jsonl"), "utf8"))
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as RecordLine).verdict);
      // 2000 - 5 ms relay margin: only the 1,990 ms reply reaches the server; the label agrees.
      expect(verdicts).toEqual(["denied", "timed-out", "timed-out", "timed-out"]);
      expect(outcomes).toEqual(["response", "timeout", "timeout", "timeout"]);
    } finally {
      await proxy.close();
      await dir.remove();
    }
  });

  it("the proxy's budget is the server's remaining time less the relay margin", () => {
    const budget = (nowMs: number) =>
      proxyBudgetMs({ timeoutMs: 2000, signedAtMs: 1000, nowMs, relayMarginMs: 5 });
    expect(budget(1000)).toBe(1995);
    expect(budget(1003)).toBe(1992);
    expect(budget(999)).toBe(1995); // a clock behind the signer never extends the budget
    expect(budget(5000)).toBe(0);
  });
});
