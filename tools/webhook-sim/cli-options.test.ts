import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildWebhookHttpRequest,
  MAX_WEBHOOK_TIMEOUT_MS,
  postWebhook,
  signedHeaders,
  verifySignature,
} from "../../src/webhooks/index.js";
import { replyJson, startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { COMMAND_HELP, runCli } from "./cli.js";
import { createJsonlWriter } from "./events-file.js";
import { parseRules } from "./rules.js";
import { startServe } from "./serve.js";
import { c2cText, groupText, jsonLines, tempDir, testIo, writeEvents } from "./test-helpers.js";
import { createBodyValidator } from "./validate-body.js";

const SECRET = "opts-secret";

describe("webhook-sim help and version", () => {
  it("prints one command's options for <command> --help and help <command>", async () => {
    for (const args of [
      ["serve", "--help"],
      ["serve", "-h"],
      ["help", "serve"],
    ]) {
      const { io, stdout } = testIo();
      expect(await runCli(args, io)).toBe(0);
      expect(stdout.text()).toBe(COMMAND_HELP.serve);
    }
    expect(COMMAND_HELP.serve).toContain("--rules FILE");
    expect(COMMAND_HELP.serve).not.toContain("--target");
    for (const command of ["replay", "resend", "record", "fixtures"]) {
      const { io, stdout } = testIo();
      expect(await runCli([command, "--help"], io)).toBe(0);
      expect(stdout.text()).toMatch(new RegExp(`^webhook-sim ${command}`));
    }
  });

  it("--version prints package.json's version", async () => {
    const pkg = JSON.parse(
      await readFile(new URL("../../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    const { io, stdout } = testIo();
    expect(await runCli(["--version"], io)).toBe(0);
    expect(stdout.text()).toBe(`webhook-sim ${pkg.version}\n`);
  });

  it("a usage error points at the command's own help", async () => {
    const { io, stderr } = testIo();
    expect(await runCli(["serve", "--bogus"], io)).toBe(2);
    expect(stderr.text()).toContain('Run "webhook-sim serve --help"');
  });
});

describe("webhook-sim options against a real endpoint", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let endpoint: TestServer;
  beforeAll(async () => {
    dir = await tempDir();
    endpoint = await startTestServer((req, res) => {
      const ok = verifySignature({
        secret: SECRET,
        body: req.body,
        header: (name) => req.headers[name] as string | undefined,
        nowMs: Date.now(),
      }).ok;
      if (!ok) {
        res.writeHead(401).end();
        return;
      }
      replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" });
    });
  });
  afterAll(async () => {
    await endpoint.close();
    await dir.remove();
  });
  const commandsSince = (from: number) =>
    endpoint.received.slice(from).map((r) => r.headers["x-im-command"]);

  it("--secret-file is read (trailing newline dropped) without a warning; --secret warns", async () => {
    const secretFile = dir.file("secret");
    await writeFile(secretFile, `${SECRET}\n`);
    const fromFile = testIo();
    const args = ["replay", "--fixtures", "--url", endpoint.url, "--events", "c2c-before-send"];
    expect(await runCli([...args, "--secret-file", secretFile, "--json"], fromFile.io)).toBe(0);
    expect(fromFile.stderr.text()).toBe("");
    // The endpoint answers 401 unless the signature verifies with the file's secret.
    expect(jsonLines(fromFile.stdout.text()).at(-1)).toMatchObject({
      total: 4,
      counts: { "delivered-as-is": 4 },
    });

    const fromArgv = testIo();
    expect(await runCli([...args, "--secret", SECRET, "--quiet"], fromArgv.io)).toBe(0);
    expect(fromArgv.stderr.text()).toMatch(/warning: --secret is visible.*--secret-file/);

    const both = testIo();
    expect(await runCli([...args, "--secret", SECRET, "--secret-file", secretFile], both.io)).toBe(
      2,
    );
  });

  it("--events sends only those event types; an unknown type is a usage error", async () => {
    const before = endpoint.received.length;
    const { io } = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    const events = "group-before-send,c2c-after-send";
    expect(
      await runCli(
        ["replay", "--fixtures", "--url", endpoint.url, "--events", events, "--quiet"],
        io,
      ),
    ).toBe(0);
    const sent = commandsSince(before);
    expect(sent.length).toBeGreaterThan(1);
    expect(new Set(sent)).toEqual(new Set(["group-before-send", "c2c-after-send"]));

    const bad = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    expect(
      await runCli(["replay", "--fixtures", "--url", endpoint.url, "--events", "c2c-send"], bad.io),
    ).toBe(2);
    expect(bad.stderr.text()).toContain('unknown event type "c2c-send"');
  });

  it("--timeout stops at the server's maximum", async () => {
    const { io, stderr } = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    const over = String(MAX_WEBHOOK_TIMEOUT_MS + 1);
    expect(
      await runCli(["replay", "--fixtures", "--url", endpoint.url, "--timeout", over], io),
    ).toBe(2);
    expect(stderr.text()).toContain(`between 1 and ${MAX_WEBHOOK_TIMEOUT_MS}`);
    expect(MAX_WEBHOOK_TIMEOUT_MS).toBe(60_000);
  });

  it("resend sends exactly the event with that id, re-signed", async () => {
    const file = dir.file("recording.jsonl");
    const events = [
      c2cText("one", { id: "ev-1" }),
      c2cText("two", { id: "ev-2" }),
      groupText("three"),
    ];
    await writeEvents(file, events, () => ({ verdict: "delivered-as-is" }));
    const before = endpoint.received.length;
    const { io, stdout } = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    expect(
      await runCli(["resend", "ev-2", "--file", file, "--to", endpoint.url, "--json"], io),
    ).toBe(0);
    const sent = endpoint.received.slice(before);
    expect(sent.map((r) => r.headers["x-im-event-id"])).toEqual(["ev-2"]);
    expect(sent[0]?.body).toContain('"text":"two"');
    expect(jsonLines(stdout.text())[0]).toMatchObject({
      eventId: "ev-2",
      verdict: "delivered-as-is",
    });

    const fresh = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    expect(
      await runCli(["resend", "ev-1", "--file", file, "--to", endpoint.url, "--new-id"], fresh.io),
    ).toBe(0);
    expect(endpoint.received.at(-1)?.headers["x-im-event-id"]).not.toBe("ev-1");

    const missing = testIo({ env: { WEBHOOK_SECRET: SECRET } });
    expect(await runCli(["resend", "nope", "--file", file, "--to", endpoint.url], missing.io)).toBe(
      2,
    );
    expect(missing.stderr.text()).toContain('no event "nope"');
  });
});

describe("webhook-sim serve: replays and event filters", () => {
  it("refuses a replayed event id within the window, even re-signed", async () => {
    const log: string[] = [];
    const serve = await startServe({
      host: "127.0.0.1",
      port: 0,
      rules: parseRules({ rules: [] }),
      secret: SECRET,
      validateBody: createBodyValidator(),
      clock: Date.now,
      log: (line) => log.push(line),
    });
    try {
      const request = c2cText("hello", { id: "once-only" });
      const first = buildWebhookHttpRequest(SECRET, request, Date.now());
      const post = (r: typeof first) => postWebhook({ url: serve.url, ...r, timeoutMs: 10_000 });
      expect(await post(first)).toMatchObject({ kind: "response", status: 200 });
      // The captured request, byte for byte: its signature still verifies.
      expect(await post(first)).toMatchObject({ kind: "response", status: 409 });
      const resigned = buildWebhookHttpRequest(SECRET, request, Date.now() + 1);
      expect(await post(resigned)).toMatchObject({ kind: "response", status: 409 });
      // Validly signed headers that name another event than the body are refused too.
      const other = c2cText("moved", { id: "body-id" });
      const body = buildWebhookHttpRequest(SECRET, other, Date.now()).body;
      const headers = signedHeaders(
        SECRET,
        { timestampMs: Date.now(), command: "group-before-send", eventId: "body-id" },
        body,
      );
      expect(await post({ body, headers })).toMatchObject({ kind: "response", status: 400 });
      expect(serve.stats).toEqual({ accepted: 1, rejected: 3 });
      expect(log.filter((l) => l.startsWith("rejected replayed-event"))).toHaveLength(2);
    } finally {
      await serve.close();
    }
  });

  it("--events: other types are answered allow, not logged or recorded", async () => {
    const dir = await tempDir();
    const record = createJsonlWriter(dir.file("only.jsonl"));
    const log: string[] = [];
    const serve = await startServe({
      host: "127.0.0.1",
      port: 0,
      rules: parseRules({ rules: [{ match: {}, action: "deny", code: 7 }] }),
      secret: SECRET,
      only: new Set(["group-before-send"]),
      record,
      validateBody: createBodyValidator(),
      clock: Date.now,
      log: (line) => log.push(line),
    });
    try {
      const send = (r: ReturnType<typeof c2cText>) =>
        postWebhook({
          url: serve.url,
          ...buildWebhookHttpRequest(SECRET, r, Date.now()),
          timeoutMs: 10_000,
        });
      const c2c = await send(c2cText("skipped"));
      const group = await send(groupText("kept"));
      expect(c2c.kind === "response" && JSON.parse(c2c.body)).toEqual({
        action: "BEFORE_SEND_ACTION_ALLOW",
      });
      expect(group.kind === "response" && JSON.parse(group.body)).toMatchObject({
        action: "BEFORE_SEND_ACTION_DENY",
      });
      await record.close();
      const lines = (await readFile(dir.file("only.jsonl"), "utf8")).trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("group-before-send".toUpperCase().replaceAll("-", "_"));
      expect(log).toHaveLength(1);
    } finally {
      await serve.close();
      await dir.remove();
    }
  });
});
