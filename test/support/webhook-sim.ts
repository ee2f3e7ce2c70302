import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MessageElement } from "../../src/gen/im/v1/elements_pb.js";
import type { WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import { eventNameOfCommand, type WebhookEventName } from "../../src/webhooks/index.js";
import { createJsonlWriter, parseEventLines } from "../../tools/webhook-sim/events-file.js";
import { parseRules } from "../../tools/webhook-sim/rules.js";
import { type ServeStats, startServe } from "../../tools/webhook-sim/serve.js";
import { createBodyValidator } from "../../tools/webhook-sim/validate-body.js";
import { forgetTempDir, killOnExit, removeOnExit } from "../services/process-reaper.js";

/** The `webhook-sim` executable, exactly what `npx webhook-sim` runs. */
export const WEBHOOK_SIM_BIN = fileURLToPath(
  new URL("../../tools/webhook-sim/bin.js", import.meta.url),
);

/** One event a `serve` recorded, decoded by the same parser `replay` uses. */
export interface RecordedEvent {
  name: WebhookEventName | undefined;
  request: WebhookRequest;
  /** The verdict serve says the server applies to its answer. */
  verdict: string | undefined;
}

/** The message fields of a C2C before- or after-send event (after-send adds seq, key, time). */
export interface C2cEventFacts {
  name: WebhookEventName | undefined;
  verdict: string | undefined;
  eventId: string;
  from: string;
  to: string;
  body: MessageElement[];
  cloudCustomData: string;
  /** Text elements joined by newlines, what serve's `match.text` tests. */
  text: string;
  seq: bigint | undefined;
  msgKey: string | undefined;
  msgTimeMs: bigint | undefined;
}

export interface SimServe {
  url: string;
  recordPath: string;
  /** Every complete line recorded so far. */
  recorded(): Promise<RecordedEvent[]>;
  /** The C2C events between `from` and `to` recorded so far, in arrival order. */
  c2cEvents(from: string, to: string): Promise<C2cEventFacts[]>;
  stop(): Promise<void>;
}

export interface SimServeOptions {
  /** The rules document, as it would be written to a rules file. */
  rules: unknown;
  secret: string;
  /** The server's webhook timeout, so serve records the verdict the server reaches. */
  timeoutMs: number;
  /** Where to record; the caller owns the directory. */
  recordPath: string;
}

/** A scratch directory removed on dispose or, failing that, when the test process exits. */
export async function scratchDir(): Promise<{
  path: string;
  file(name: string): string;
  remove(): Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), "im-webhooks-"));
  removeOnExit(path);
  return {
    path,
    file: (name) => join(path, name),
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      forgetTempDir(path);
    },
  };
}

/**
 * Starts `webhook-sim serve` as a real child process (the CLI a developer runs)
 * on a free port and resolves once it prints the address it listens on.
 */
export async function startSimServeProcess(options: SimServeOptions): Promise<SimServe> {
  const rulesPath = `${options.recordPath}.rules.json`;
  await writeFile(rulesPath, JSON.stringify(options.rules, null, 2));
  const child = spawn(
    process.execPath,
    [
      WEBHOOK_SIM_BIN,
      "serve",
      "--port",
      "0",
      "--rules",
      rulesPath,
      "--record",
      options.recordPath,
      "--timeout",
      String(options.timeoutMs),
    ],
    // The secret goes in the environment, as the README advises: argv is visible in ps.
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WEBHOOK_SECRET: options.secret } },
  );
  killOnExit(child);
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`webhook-sim serve did not start within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(output);
      if (found?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`webhook-sim serve exited (${code}) before listening:\n${output}`));
    });
  });
  return {
    url,
    recordPath: options.recordPath,
    ...readers(options.recordPath),
    stop: () => stopChild(child, exited),
  };
}

/** The same mock backend through its exported function, for variants a test owns briefly. */
export async function startSimServeInProcess(
  options: SimServeOptions,
): Promise<SimServe & { stats: ServeStats }> {
  const record = createJsonlWriter(options.recordPath);
  const running = await startServe({
    host: "127.0.0.1",
    port: 0,
    rules: parseRules(options.rules),
    secret: options.secret,
    timeoutMs: options.timeoutMs,
    record,
    validateBody: createBodyValidator(),
    clock: Date.now,
    log: () => {},
  });
  return {
    url: running.url,
    recordPath: options.recordPath,
    stats: running.stats,
    ...readers(options.recordPath),
    stop: async () => {
      await running.close();
      await record.close();
    },
  };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

function readers(path: string): Pick<SimServe, "recorded" | "c2cEvents"> {
  const recorded = async (): Promise<RecordedEvent[]> => {
    const text = await readFile(path, "utf8");
    // serve may be writing a line right now: only complete lines count.
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    return parseEventLines(complete, path).map((e) => ({
      name: eventNameOfCommand(e.request.command),
      request: e.request,
      verdict: e.recordedVerdict,
    }));
  };
  return {
    recorded,
    c2cEvents: async (from, to) =>
      (await recorded()).flatMap((e) => {
        const facts = c2cFacts(e);
        return facts !== undefined && facts.from === from && facts.to === to ? [facts] : [];
      }),
  };
}

export function c2cFacts(e: RecordedEvent): C2cEventFacts | undefined {
  const event = e.request.event;
  if (event.case !== "c2cBeforeSend" && event.case !== "c2cAfterSend") return undefined;
  const v = event.value;
  const after = event.case === "c2cAfterSend" ? event.value : undefined;
  return {
    name: e.name,
    verdict: e.verdict,
    eventId: e.request.eventId,
    from: v.fromAccount,
    to: v.toAccount,
    body: v.body,
    cloudCustomData: v.cloudCustomData,
    text: v.body
      .flatMap((el) => (el.element.case === "text" ? [el.element.value.text] : []))
      .join("\n"),
    seq: after?.seq,
    msgKey: after?.msgKey,
    msgTimeMs: after?.msgTimeMs,
  };
}

/** Runs the `webhook-sim` CLI to completion and collects its exit code and output. */
export function runSimCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEBHOOK_SIM_BIN, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    killOnExit(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
