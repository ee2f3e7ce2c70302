import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { BusMessageCounts } from "../src/bus/index.js";
import { AccountService } from "../src/gen/im/v1/account_pb.js";
import type { StoreCommandCounts } from "../src/storage/storage.js";
import { killOnExit } from "../test/services/process-reaper.js";
import { authHeader, type BenchApp } from "./clients.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ServerOptions {
  app: BenchApp;
  port: number;
  /** Unset: the server's in-memory store. */
  mongo: { url: string; database: string } | undefined;
  natsUrl: string;
  namespace: string;
  webhook?: { url: string; secret: string };
  /**
   * Count the server's store commands (driver command monitoring, MongoDB only)
   * and answer `counts` (bus messages too, NATS only).
   */
  monitorStoreCommands?: boolean;
  /** Directory for a V8 CPU profile of the server (node --cpu-prof), written at exit. */
  cpuProfDir?: string;
  /** Further settings a scenario needs (e.g. larger batch limits for its set-up). */
  env?: Record<string, string>;
}

/** The server as its own OS process, so its RSS and CPU are its own and measurable. */
export interface ServerProcess {
  baseUrl: string;
  pid: number;
  /** SIGTERM (graceful), SIGKILL after 15 s; resolves once it has exited. */
  stop(): Promise<void>;
  logTail(): string;
  /**
   * The store commands the server has sent since it started (it must run with
   * `monitorStoreCommands`): asks it with SIGUSR2 and reads its log line.
   */
  storeCommands(): Promise<StoreCommandCounts>;
  /**
   * The same with the bus messages the server sent and received (NATS only), and
   * no store commands unless it runs with `monitorStoreCommands`.
   */
  counts(): Promise<ServerCounts>;
}

export interface ServerCounts {
  commands: StoreCommandCounts | undefined;
  bus: BusMessageCounts | undefined;
}

export async function startServerProcess(options: ServerOptions): Promise<ServerProcess> {
  // A minimal environment: settings inherited from the caller's shell (a WEBHOOK_URL,
  // a MONGO_URL) must not change what is measured.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    HOST: "127.0.0.1",
    PORT: String(options.port),
    APP_ID: String(options.app.appId),
    APP_SECRET_KEY: options.app.secretKey,
    ADMIN_USER_IDS: options.app.adminUserId,
    ...(options.mongo === undefined
      ? {}
      : { MONGO_URL: options.mongo.url, MONGO_DATABASE: options.mongo.database }),
    NATS_URL: options.natsUrl,
    NATS_NAMESPACE: options.namespace,
    // The command counts come as an info line; nothing else logs at info under load.
    LOG_LEVEL: options.monitorStoreCommands ? "info" : "warn",
    ...(options.monitorStoreCommands && options.mongo !== undefined
      ? { MONGO_MONITOR_COMMANDS: "true" }
      : {}),
    SHUTDOWN_GRACE_MS: "2000",
    // Load generators send faster than the per-user limits allow people to.
    RATE_LIMIT_SENDS: "1000000",
    RATE_LIMIT_HISTORY: "1000000",
    RATE_LIMIT_SESSIONS: "1000000",
    RATE_LIMIT_TYPING: "1000000",
    ...(options.webhook === undefined
      ? {}
      : {
          WEBHOOK_URL: options.webhook.url,
          WEBHOOK_SECRET: options.webhook.secret,
          // Only the hook under test: after-send would add load without touching the ack path.
          WEBHOOK_EVENTS: "c2c-before-send",
        }),
    ...options.env,
  };
  // `node --import tsx` rather than the tsx CLI: the CLI runs the program in a child
  // process, and we want the pid whose memory is the server's.
  const args = [
    ...(options.cpuProfDir === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`]),
    "--import",
    "tsx",
    "src/main.ts",
  ];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(child);
  let log = "";
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-16_384);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  // Answers to SIGUSR2, in order: the logger writes one JSON line per record on stderr.
  const countWaiters: ((counts: ServerCounts) => void)[] = [];
  let partial = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.includes('"store commands"')) continue;
      const record = JSON.parse(line) as Partial<ServerCounts>;
      countWaiters.shift()?.({ commands: record.commands, bus: record.bus });
    }
  });
  const exited = exitOf(child);
  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
  });

  const baseUrl = `http://127.0.0.1:${options.port}`;
  const pid = child.pid;
  if (pid === undefined) throw new Error(`server did not start: ${await exited}`);
  try {
    await waitReady(baseUrl, options.app, () => exitReason);
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`${(err as Error).message}\n--- server output ---\n${log}`);
  }
  const counts = () =>
    new Promise<ServerCounts>((resolve) => {
      countWaiters.push(resolve);
      child.kill("SIGUSR2");
    });
  return {
    baseUrl,
    pid,
    stop: async () => {
      if (exitReason !== undefined) return;
      child.kill("SIGTERM");
      const graceful = await Promise.race([exited.then(() => true), sleep(15_000, false)]);
      if (!graceful) child.kill("SIGKILL");
      await exited;
    },
    logTail: () => log,
    counts,
    storeCommands: async () => {
      const { commands } = await counts();
      if (commands === undefined) throw new Error("the server does not count store commands");
      return commands;
    },
  };
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once("error", (err) => resolve(`failed to start: ${err.message}`));
    child.once("exit", (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`));
  });
}

/** Ready means it answers an authenticated RPC, i.e. storage and bus are up too. */
async function waitReady(
  baseUrl: string,
  app: BenchApp,
  exitReason: () => string | undefined,
): Promise<void> {
  const client = createClient(AccountService, createGrpcTransport({ baseUrl }));
  const headers = authHeader(app, app.adminUserId);
  const deadline = Date.now() + 60_000;
  let lastError: unknown;
  for (;;) {
    const reason = exitReason();
    if (reason !== undefined) throw new Error(`server ${reason} before it was ready`);
    try {
      await client.whoAmI({}, { headers, timeoutMs: 2000 });
      return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`server not ready after 60 s: ${(lastError as Error)?.message}`);
    }
    await sleep(200);
  }
}
