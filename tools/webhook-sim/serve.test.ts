import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import {
  type BeforeSendEvent,
  createWebhookClient,
  WEBHOOK_EVENT_NAMES,
  type WebhookClient,
} from "../../src/webhooks/index.js";
import { runCli } from "./cli.js";
import { createJsonlWriter, parseEventLines } from "./events-file.js";
import { UsageError } from "./io.js";
import { parseRules } from "./rules.js";
import { type RunningServer, startServe } from "./serve.js";
import { c2cText, groupText, jsonLines, tempDir, testIo } from "./test-helpers.js";
import { createBodyValidator } from "./validate-body.js";

const SECRET = "serve-secret";
const validate = createBodyValidator();

const RULES = {
  rules: [
    {
      name: "deny spam",
      match: { command: "c2c-before-send", text: "/spam/i" },
      action: "deny",
      code: 120001,
      text: "no spam",
    },
    { name: "drop to mallory", match: { recipient: "mallory" }, action: "drop" },
    {
      name: "censor",
      match: { text: "darn" },
      action: "modify",
      replace: { pattern: "darn", with: "d**n" },
    },
    {
      name: "rewrite",
      match: { sender: "rewriter" },
      action: "modify",
      body: [{ text: { text: "rewritten" } }],
      cloudCustomData: "cc",
    },
    {
      name: "invalid rewrite",
      match: { sender: "breaker" },
      action: "modify",
      body: [{ text: { text: "" } }],
    },
    // Far past the 2 s timeout, and a late deny well within it: no scheduling delay on a
    // loaded machine swaps the two.
    { name: "slow", match: { text: "^slow$" }, action: "delay", delayMs: 5000 },
    {
      name: "late deny",
      match: { text: "^late$" },
      delayMs: 1000,
      action: "deny",
      code: 9,
      text: "late",
    },
    { name: "busy", match: { text: "^busy$" }, action: "status", status: 503, body: "busy" },
    { name: "garbage", match: { text: "^garbage$" }, action: "malformed" },
    { name: "hang up", match: { text: "^hangup$" }, action: "close" },
    {
      name: "group rule",
      match: { group: "g-deny", command: ["group-before-send"] },
      action: "deny",
      code: 3,
    },
  ],
};

const event = (request: ReturnType<typeof c2cText>): BeforeSendEvent => {
  if (request.event.case !== "c2cBeforeSend" && request.event.case !== "groupBeforeSend") {
    throw new Error("not a before-send event");
  }
  return request.event;
};

describe("webhook-sim serve", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let serve: RunningServer;
  let client: WebhookClient;
  const log: string[] = [];
  let recordPath: string;
  let record: ReturnType<typeof createJsonlWriter>;

  const clientFor = (overrides: { secret?: string; clock?: () => number } = {}): WebhookClient =>
    createWebhookClient({
      config: {
        url: serve.url,
        secret: overrides.secret ?? SECRET,
        enabledEvents: new Set(WEBHOOK_EVENT_NAMES),
        timeoutMs: 2000,
        appId: "1400000000",
      },
      logger: silentLogger,
      clock: overrides.clock ?? Date.now,
    });

  beforeAll(async () => {
    dir = await tempDir();
    recordPath = dir.file("served.jsonl");
    record = createJsonlWriter(recordPath);
    serve = await startServe({
      host: "127.0.0.1",
      port: 0,
      rules: parseRules(RULES),
      secret: SECRET,
      record,
      validateBody: validate,
      clock: Date.now,
      log: (line) => log.push(line),
    });
    client = clientFor();
  });
  afterAll(async () => {
    await client.close();
    await serve.close();
    await record.close();
    await dir.remove();
  });

  // What the server's own webhook client concludes from serve's answers.
  it.each([
    ["hello", {}, { kind: "delivered-as-is" }],
    ["buy SPAM now", {}, { kind: "denied", appCode: 120001, appText: "no spam" }],
    ["hi", { to: "mallory" }, { kind: "dropped" }],
    [
      "well darn it",
      {},
      {
        kind: "modified",
        cloudCustomData: "",
        body: [
          expect.objectContaining({
            element: { case: "text", value: expect.objectContaining({ text: "well d**n it" }) },
          }),
        ],
      },
    ],
    [
      "x",
      { from: "rewriter" },
      {
        kind: "modified",
        cloudCustomData: "cc",
        body: [
          expect.objectContaining({
            element: { case: "text", value: expect.objectContaining({ text: "rewritten" }) },
          }),
        ],
      },
    ],
    [
      "x",
      { from: "breaker" },
      { kind: "invalid-modification", reason: "body[0].text.text: required" },
    ],
    ["busy", {}, { kind: "endpoint-error", reason: "HTTP status 503" }],
    ["garbage", {}, expect.objectContaining({ kind: "endpoint-error" })],
    ["hangup", {}, expect.objectContaining({ kind: "endpoint-error" })],
  ])("%s %o → %o", async (text, who, expected) => {
    expect(await client.beforeSend(event(c2cText(text, who)), validate)).toEqual(expected);
  });

  it("matches group rules", async () => {
    expect(await client.beforeSend(event(groupText("hi", "g-deny")), validate)).toEqual({
      kind: "denied",
      appCode: 3,
      appText: "",
    });
    expect(await client.beforeSend(event(groupText("hi", "g-other")), validate)).toEqual({
      kind: "delivered-as-is",
    });
  });

  it("delays: 5 s times out at 2 s, a deny after 1 s is a deny", async () => {
    const started = performance.now();
    const [slow, late] = await Promise.all([
      client
        .beforeSend(event(c2cText("slow")), validate)
        .then((v) => [v, performance.now() - started] as const),
      client.beforeSend(event(c2cText("late")), validate),
    ]);
    expect(slow[0]).toEqual({ kind: "timed-out" });
    expect(slow[1]).toBeGreaterThanOrEqual(1995);
    expect(late).toEqual({ kind: "denied", appCode: 9, appText: "late" });
  });

  it("rejects a wrong secret, which the server treats as an endpoint error", async () => {
    const rejectedBefore = serve.stats.rejected;
    const forger = clientFor({ secret: "guess" });
    const verdict = await forger.beforeSend(event(c2cText("buy spam")), validate);
    await forger.close();
    expect(verdict).toEqual({ kind: "endpoint-error", reason: "HTTP status 401" });
    expect(serve.stats.rejected).toBe(rejectedBefore + 1);
    expect(log.at(-1)).toContain("rejected bad-signature");
  });

  it("rejects a replayed (stale) request", async () => {
    const old = clientFor({ clock: () => Date.now() - 10 * 60_000 });
    const verdict = await old.beforeSend(event(c2cText("buy spam")), validate);
    await old.close();
    expect(verdict).toEqual({ kind: "endpoint-error", reason: "HTTP status 401" });
    expect(log.at(-1)).toContain("rejected stale-timestamp");
  });

  it("rejects unsigned and undecodable requests", async () => {
    const unsigned = await fetch(serve.url, { method: "POST", body: "{}" });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toMatchObject({ error: "missing-timestamp" });
    const get = await fetch(serve.url);
    expect(get.status).toBe(405);
  });

  it("records accepted events with the server's verdict, replayable with no changes", async () => {
    await record.close();
    const lines = (await readFile(recordPath, "utf8")).trim().split("\n");
    const records = lines.map(
      (l) => JSON.parse(l) as { verdict: string; reply: { outcome: string } },
    );
    expect(records.map((r) => r.verdict)).toEqual(
      expect.arrayContaining([
        "delivered-as-is",
        "denied",
        "dropped",
        "modified",
        "invalid-modification",
        "endpoint-error",
        "timed-out",
      ]),
    );
    expect(records.some((r) => r.reply.outcome === "closed")).toBe(true);
    // Only verified events are recorded.
    const events = parseEventLines(lines.join("\n"), "served.jsonl");
    expect(events).toHaveLength(records.length);

    const { io, stdout } = testIo();
    const code = await runCli(
      [
        "replay",
        recordPath,
        "--url",
        serve.url,
        "--secret",
        SECRET,
        "--json",
        "--concurrency",
        "8",
        // serve refuses event ids it has already seen; a replay against it needs fresh ones.
        "--new-ids",
      ],
      io,
    );
    expect(code).toBe(0);
    const summary = jsonLines(stdout.text()).at(-1);
    expect(summary).toMatchObject({ type: "summary", compared: records.length, changed: 0 });
  });
});

describe("webhook-sim serve from the command line", () => {
  it("runs until aborted, with --no-verify accepting unsigned requests", async () => {
    const controller = new AbortController();
    const { io, stdout } = testIo({ signal: controller.signal });
    const done = runCli(["serve", "--port", "0", "--no-verify"], io);
    let url: string | undefined;
    for (let i = 0; i < 100 && url === undefined; i++) {
      url = /listening on (\S+)/.exec(stdout.text())?.[1];
      if (url === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(stdout.text()).toContain("signatures NOT verified");
    const body = JSON.stringify({
      command: "WEBHOOK_COMMAND_C2C_BEFORE_SEND",
      eventId: "e1",
      c2cBeforeSend: { fromAccount: "a", toAccount: "b", body: [{ text: { text: "hi" } }] },
    });
    const res = await fetch(url ?? "", { method: "POST", body });
    expect(await res.json()).toEqual({ action: "BEFORE_SEND_ACTION_ALLOW" });
    controller.abort();
    expect(await done).toBe(0);
    expect(stdout.text()).toContain("stopped: 1 accepted, 0 rejected");
  });

  it("requires a secret unless --no-verify, and validates the rules file", async () => {
    const dir = await tempDir();
    try {
      const a = testIo();
      expect(await runCli(["serve", "--port", "0"], a.io)).toBe(2);
      expect(a.stderr.text()).toContain("--secret");
      const { writeFile } = await import("node:fs/promises");
      await writeFile(
        dir.file("bad.json"),
        JSON.stringify({ rules: [{ action: "deny", code: "x" }] }),
      );
      const b = testIo();
      expect(
        await runCli(
          ["serve", "--port", "0", "--no-verify", "--rules", dir.file("bad.json")],
          b.io,
        ),
      ).toBe(2);
      expect(b.stderr.text()).toContain("rules[0].code");
    } finally {
      await dir.remove();
    }
  });
});

describe("rules files", () => {
  it.each([
    [{ rules: [{}] }, "rules[0].action"],
    [{ rules: [{ action: "explode" }] }, "rules[0].action"],
    [
      { rules: [{ action: "allow", match: { command: "c2c-befor-send" } }] },
      'unknown event "c2c-befor-send"',
    ],
    [{ rules: [{ action: "allow", match: { sender: 5 } }] }, "rules[0].match.sender"],
    [{ rules: [{ action: "allow", match: { who: "x" } }] }, 'unknown key "who"'],
    [{ rules: [{ action: "allow", match: { text: "(" } }] }, "rules[0].match.text"],
    [{ rules: [{ action: "modify" }] }, "modify needs"],
    [{ rules: [{ action: "modify", body: [{ txt: {} }] }] }, "rules[0].body[0]"],
    [{ rules: [{ action: "delay" }] }, "delayMs: required"],
    [{ rules: [{ action: "status", status: 99 }] }, "rules[0].status"],
    [{ rules: [{ action: "allow", delayMs: -1 }] }, "rules[0].delayMs"],
    [{ rules: [{ action: "allow", colour: "red" }] }, 'unknown key "colour"'],
    [
      { rules: [], default: { action: "deny", match: { sender: "x" } } },
      'default: must not have "match"',
    ],
    [{ rulez: [] }, 'unknown key "rulez"'],
  ])("%o → %s", (doc, message) => {
    expect(() => parseRules(doc, "rules.json")).toThrow(UsageError);
    expect(() => parseRules(doc, "rules.json")).toThrow(message);
  });

  it("accepts a bare array and a default rule", () => {
    expect(parseRules([{ action: "drop" }]).rules).toHaveLength(1);
    expect(parseRules({ rules: [], default: { action: "deny", code: 1 } }).fallback.action).toEqual(
      {
        kind: "deny",
        code: 1,
        text: "",
      },
    );
  });
});
