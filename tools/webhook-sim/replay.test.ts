import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeWebhookRequest } from "../../src/webhooks/index.js";
import {
  refusedUrl,
  replyJson,
  sleep,
  startTestServer,
  type TestServer,
} from "../../src/webhooks/test-server.js";
import { runCli } from "./cli.js";
import { c2cText, jsonLines, tempDir, testIo, writeEvents } from "./test-helpers.js";

/**
 * One endpoint that behaves as each event's text says, so a single replay
 * exercises every verdict.
 */
async function behavingEndpoint(): Promise<TestServer> {
  return startTestServer(async (req, res) => {
    const request = decodeWebhookRequest(req.body);
    const e = request.event;
    const text =
      (e.case === "c2cBeforeSend" || e.case === "c2cAfterSend") &&
      e.value.body[0]?.element.case === "text"
        ? e.value.body[0].element.value.text
        : "";
    switch (text) {
      case "allow":
        return replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" });
      case "deny":
        return replyJson(res, {
          action: "BEFORE_SEND_ACTION_DENY",
          appCode: 120001,
          appText: "no",
        });
      case "drop":
        return replyJson(res, { action: "BEFORE_SEND_ACTION_DROP" });
      case "modify":
        return replyJson(res, {
          action: "BEFORE_SEND_ACTION_MODIFY",
          body: [{ text: { text: "m***y" } }],
          cloudCustomData: "censored",
        });
      case "modify-invalid":
        return replyJson(res, {
          action: "BEFORE_SEND_ACTION_MODIFY",
          body: [{ text: { text: "" } }],
        });
      case "slow":
        // Never answers (the connection ends when the endpoint closes): a timeout whatever
        // the machine's load.
        return new Promise<void>(() => {});
      case "slow-deny":
        // Late but within the 2 s default by a margin no scheduling delay here eats.
        return replyJson(
          res,
          { action: "BEFORE_SEND_ACTION_DENY", appCode: 7, appText: "late" },
          { delayMs: 1000 },
        );
      case "close":
        res.socket?.destroy();
        return;
      case "status":
        return replyJson(res, { action: "BEFORE_SEND_ACTION_DENY" }, { status: 500 });
      case "malformed":
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"action": ');
        return;
      default:
        await sleep(1);
        return replyJson(res, {});
    }
  });
}

const EXPECTED: [string, string][] = [
  ["allow", "delivered-as-is"],
  ["deny", "denied"],
  ["drop", "dropped"],
  ["modify", "modified"],
  ["modify-invalid", "invalid-modification"],
  ["slow", "timed-out"],
  ["slow-deny", "denied"],
  ["close", "endpoint-error"],
  ["status", "endpoint-error"],
  ["malformed", "endpoint-error"],
];

describe("webhook-sim replay", () => {
  let endpoint: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let eventsFile: string;

  beforeAll(async () => {
    endpoint = await behavingEndpoint();
    dir = await tempDir();
    eventsFile = dir.file("events.jsonl");
    await writeEvents(
      eventsFile,
      EXPECTED.map(([text]) => c2cText(text, { id: `evt-${text}` })),
    );
  });
  afterAll(async () => {
    await endpoint.close();
    await dir.remove();
  });

  it("reports the server's verdict for every endpoint behaviour", async () => {
    const { io, stdout } = testIo();
    const code = await runCli(
      [
        "replay",
        eventsFile,
        "--url",
        endpoint.url,
        "--secret",
        "s",
        "--json",
        "--concurrency",
        "10",
      ],
      io,
    );
    expect(code).toBe(0);
    const lines = jsonLines(stdout.text());
    const events = lines.filter((l) => l.type === "event");
    const verdicts = Object.fromEntries(events.map((e) => [e.eventId, e.verdict]));
    expect(verdicts).toEqual(Object.fromEntries(EXPECTED.map(([t, v]) => [`evt-${t}`, v])));

    const byId = (id: string) => events.find((e) => e.eventId === id) as Record<string, unknown>;
    // Timeout measured against the default 2000 ms (less the timer's 1 ms, see
    // below); a late deny within it still counts.
    expect(byId("evt-slow").latencyMs as number).toBeGreaterThanOrEqual(1999);
    expect(byId("evt-slow").outcome).toBe("timeout");
    expect(byId("evt-slow-deny").detail).toEqual({ kind: "denied", appCode: 7, appText: "late" });
    expect(byId("evt-deny")).toMatchObject({
      status: 200,
      reply: { action: "BEFORE_SEND_ACTION_DENY", appCode: 120001 },
    });
    expect(byId("evt-status")).toMatchObject({ status: 500, outcome: "response" });
    expect(byId("evt-close")).toMatchObject({ status: null, outcome: "connection-error" });
    expect(byId("evt-modify").detail).toMatchObject({
      kind: "modified",
      cloudCustomData: "censored",
      diff: [
        "body:",
        '  - [0] {"text":{"text":"modify"}}',
        '  + [0] {"text":{"text":"m***y"}}',
        "cloudCustomData:",
        '  - ""',
        '  + "censored"',
      ],
    });
    expect((byId("evt-modify-invalid").detail as { reason: string }).reason).toContain("text");

    const summary = lines.at(-1) as Record<string, unknown>;
    expect(summary).toMatchObject({
      type: "summary",
      total: 10,
      counts: {
        "delivered-as-is": 1,
        denied: 2,
        dropped: 1,
        modified: 1,
        "invalid-modification": 1,
        "timed-out": 1,
        "endpoint-error": 3,
      },
      failed: false,
    });
  });

  it("times out at a configured --timeout", async () => {
    const file = dir.file("slow.jsonl");
    await writeEvents(file, [c2cText("slow")]);
    const { io, stdout } = testIo();
    const code = await runCli(
      ["replay", file, "--url", endpoint.url, "--secret", "s", "--timeout", "2500", "--json"],
      io,
    );
    expect(code).toBe(0);
    const [event] = jsonLines(stdout.text());
    expect(event?.verdict).toBe("timed-out");
    // At the configured 2500 ms, not the 2000 ms default. (A Node timer may fire
    // up to 1 ms before performance.now() says its delay passed: libuv's loop
    // clock counts whole milliseconds; CI measured 2499.7.)
    expect(event?.latencyMs as number).toBeGreaterThanOrEqual(2499);
  });

  it.each([
    ["denied", ["deny"], 1],
    ["denied,dropped", ["allow", "drop"], 1],
    ["timed-out,endpoint-error", ["allow", "deny", "modify"], 0],
    ["endpoint-error", ["malformed"], 1],
    ["delivered-as-is", ["allow"], 1],
  ])("--fail-on %s with %o exits %i", async (failOn, texts, exitCode) => {
    const file = dir.file(`fail-${failOn}.jsonl`);
    await writeEvents(
      file,
      texts.map((t) => c2cText(t)),
    );
    const { io, stdout } = testIo();
    const code = await runCli(
      ["replay", file, "--url", endpoint.url, "--secret", "s", "--fail-on", failOn],
      io,
    );
    expect(code).toBe(exitCode);
    if (exitCode === 1) expect(stdout.text()).toContain("FAIL: events ended in");
  });

  it("counts a refused port as endpoint error", async () => {
    const file = dir.file("refused.jsonl");
    await writeEvents(file, [c2cText("allow")]);
    const { io, stdout } = testIo();
    const code = await runCli(
      [
        "replay",
        file,
        "--url",
        await refusedUrl(),
        "--secret",
        "s",
        "--json",
        "--fail-on",
        "endpoint-error",
      ],
      io,
    );
    expect(code).toBe(1);
    const [event] = jsonLines(stdout.text());
    expect(event).toMatchObject({ verdict: "endpoint-error", outcome: "connection-error" });
    expect(String(event?.error)).toContain("ECONNREFUSED");
  });

  it("prints readable lines, a diff, the summary table, and progress on a terminal", async () => {
    const file = dir.file("human.jsonl");
    await writeEvents(file, [c2cText("modify"), c2cText("deny"), c2cText("other")]);
    const { io, stdout, stderr } = testIo({ tty: true });
    const code = await runCli(["replay", file, "--url", endpoint.url, "--secret", "s"], io);
    expect(code).toBe(0);
    const out = stdout.text();
    expect(out).toContain("c2c-before-send");
    expect(out).toContain("HTTP 200");
    expect(out).toContain("verdict: modified → delivered with changes");
    expect(out).toContain('  - [0] {"text":{"text":"modify"}}');
    expect(out).toContain('  + [0] {"text":{"text":"m***y"}}');
    expect(out).toContain('verdict: denied → sender gets app code 120001 "no"');
    expect(out).toMatch(/^verdict\s+count\s+p50\s+p99$/m);
    expect(out).toMatch(/^denied\s+1\s+/m);
    expect(out).toMatch(/^total\s+3\s+/m);
    expect(stderr.text()).toContain("replaying 3/3 (100%)");
  });

  it("shows no progress when not on a terminal, and --quiet prints only the summary", async () => {
    const file = dir.file("quiet.jsonl");
    await writeEvents(file, [c2cText("modify"), c2cText("deny"), c2cText("other")]);
    const { io, stdout, stderr } = testIo({ env: { WEBHOOK_SECRET: "s" } });
    await runCli(["replay", file, "--url", endpoint.url, "--quiet"], io);
    expect(stderr.text()).toBe("");
    expect(stdout.text()).not.toContain("verdict:");
    expect(stdout.text()).toMatch(/^total\s+3\s+/m);
  });

  it("compares with the verdicts recorded in the file", async () => {
    const file = dir.file("recorded.jsonl");
    await writeEvents(file, [c2cText("deny"), c2cText("allow")], () => ({
      verdict: "delivered-as-is",
    }));
    const { io, stdout } = testIo();
    await runCli(["replay", file, "--url", endpoint.url, "--secret", "s"], io);
    expect(stdout.text()).toContain("CHANGED: recorded verdict was delivered-as-is");
    expect(stdout.text()).toContain("changed vs recording: 1 of 2");
  });

  it("sends the built-in fixtures, signed with the secret, honouring --rate", async () => {
    const before = endpoint.received.length;
    const { io, stdout } = testIo();
    const started = performance.now();
    const code = await runCli(
      [
        "replay",
        "--fixtures",
        "--url",
        endpoint.url,
        "--secret",
        "s",
        "--json",
        "--rate",
        "50",
        "--concurrency",
        "4",
      ],
      io,
    );
    const elapsed = performance.now() - started;
    expect(code).toBe(0);
    const events = jsonLines(stdout.text()).filter((l) => l.type === "event");
    expect(events.length).toBe(19);
    // 19 starts at 50/s: the last starts 360 ms after the first.
    expect(elapsed).toBeGreaterThanOrEqual(350);
    const sent = endpoint.received.slice(before);
    expect(sent.every((r) => typeof r.headers["x-im-signature"] === "string")).toBe(true);
    expect(new Set(sent.map((r) => r.headers["x-im-command"]))).toEqual(
      new Set([
        "c2c-before-send",
        "c2c-after-send",
        "group-before-send",
        "group-after-send",
        "group-after-create",
        "group-after-member-join",
        "group-after-member-exit",
        "group-after-disband",
        "c2c-after-recall",
        "group-after-recall",
        "c2c-before-edit",
        "group-before-edit",

        "user-after-state-change",
      ]),
    );
  });

  it.each([
    [["replay", "--fixtures", "--secret", "s"], "--url"],
    [["replay", "--fixtures", "--url", "http://127.0.0.1:1/"], "--secret"],
    [["replay", "--url", "http://127.0.0.1:1/", "--secret", "s"], "--fixtures"],
    [
      ["replay", "--fixtures", "--url", "http://x/", "--secret", "s", "--fail-on", "denyed"],
      "unknown verdict",
    ],
    [
      ["replay", "--fixtures", "--url", "http://x/", "--secret", "s", "--timeout", "soon"],
      "--timeout",
    ],
    [["replay", "/nonexistent.jsonl", "--url", "http://x/", "--secret", "s"], "cannot read"],
    [["replay", "--bogus"], "bogus"],
    [["frobnicate"], "unknown command"],
  ])("usage error %o exits 2 naming %s", async (argv, needle) => {
    const { io, stderr } = testIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(stderr.text()).toContain(needle);
  });

  it("rejects a bad event line naming the line", async () => {
    const file = dir.file("bad.jsonl");
    await writeEvents(file, [c2cText("allow")]);
    const { appendFile } = await import("node:fs/promises");
    await appendFile(file, '{"command":"WEBHOOK_COMMAND_C2C_BEFORE_SEND","appId":"1"}\n');
    const { io, stderr } = testIo();
    expect(await runCli(["replay", file, "--url", endpoint.url, "--secret", "s"], io)).toBe(2);
    expect(stderr.text()).toContain("bad.jsonl:2");
    expect(stderr.text()).toContain("no event payload");
  });
});
