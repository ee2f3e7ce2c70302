import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { forgetTempDir, killOnExit, removeOnExit } from "./process-reaper.js";
import { waitUntil } from "./readiness.js";

/** A local server process a test owns: it can crash it (kill -9) and bring it back. */
export interface ServiceProcess {
  readonly url: string;
  readonly port: number;
  /** Where the server keeps its data; survives stop() so restart() finds it again. */
  readonly dataDir: string;
  /** Sends `signal` (default SIGTERM, then SIGKILL after 10 s) and waits for exit; no-op if stopped. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops if running, then starts on the same port and data dir; resolves once it answers. */
  restart(): Promise<void>;
  /** Stops, and removes the data dir if we created it. */
  dispose(): Promise<void>;
  /** The last few KB the process printed, for failure messages. */
  logTail(): string;
}

export interface ProcessSpec {
  /** Human name for messages, e.g. "FerretDB". */
  name: string;
  binary: string;
  args(port: number, dataDir: string): string[];
  url(port: number): string;
  /** One readiness attempt; resolves when the server at `url` really serves. */
  probe(url: string): Promise<void>;
}

export interface ProcessOptions {
  /** Fixed port; by default a free loopback port (retried if another process grabs it first). */
  port?: number;
  /** Existing data dir to (re)use; by default a fresh temp dir removed on dispose or exit. */
  dataDir?: string;
  startTimeoutMs?: number;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  exitReason(): string | undefined;
}

const logTailBytes = 16_384;
const verbose = process.env.IM_TEST_SERVICES_VERBOSE === "1";

export async function startManagedProcess(
  spec: ProcessSpec,
  options: ProcessOptions,
  choosePort: () => Promise<number>,
): Promise<ServiceProcess> {
  if (!existsSync(spec.binary)) {
    throw new Error(
      `${spec.name} binary not found at ${spec.binary}; run \`npm run test-services\` (needs Go) to build it`,
    );
  }
  const ownsDataDir = options.dataDir === undefined;
  const dataDir =
    options.dataDir ?? (await mkdtemp(join(tmpdir(), `im-test-${spec.name.toLowerCase()}-`)));
  if (ownsDataDir) removeOnExit(dataDir);
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  let log = "";
  const appendLog = (chunk: Buffer): void => {
    log = (log + chunk.toString()).slice(-logTailBytes);
    if (verbose) process.stderr.write(`[${spec.name}] ${chunk.toString()}`);
  };

  const launch = (port: number): Running => {
    const child = spawn(spec.binary, spec.args(port, dataDir), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    killOnExit(child);
    child.stdout?.on("data", appendLog);
    child.stderr?.on("data", appendLog);
    let reason: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("error", (error) => {
        reason = `failed to start: ${error.message}`;
        resolve();
      });
      child.once("exit", (code, signal) => {
        reason = `exited (${signal ?? `code ${code}`})`;
        resolve();
      });
    });
    return { child, exited, exitReason: () => reason };
  };

  const startOn = async (port: number): Promise<Running> => {
    const running = launch(port);
    const url = spec.url(port);
    try {
      await waitUntil(() => spec.probe(url), {
        what: `${spec.name} (${url}, data ${dataDir})`,
        timeoutMs,
        giveUp: running.exitReason,
      });
      return running;
    } catch (error) {
      running.child.kill("SIGKILL");
      await running.exited;
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n--- ${spec.name} output ---\n${log}`, { cause: error });
    }
  };

  // A port picked by us can be taken by a parallel worker before the child binds it: retry.
  let port = options.port ?? (await choosePort());
  let current: Running | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      current = await startOn(port);
      break;
    } catch (error) {
      if (options.port !== undefined || attempt >= 3) {
        if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
        throw error;
      }
      port = await choosePort();
    }
  }

  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const running = current;
    current = undefined;
    if (!running || running.exitReason()) return;
    running.child.kill(signal);
    if (signal !== "SIGKILL") {
      const graceful = await Promise.race([
        running.exited.then(() => true),
        sleep(10_000, false, { ref: false }),
      ]);
      if (!graceful) running.child.kill("SIGKILL");
    }
    await running.exited;
  };

  return {
    url: spec.url(port),
    port,
    dataDir,
    stop,
    restart: async () => {
      await stop();
      current = await startOn(port);
    },
    dispose: async () => {
      await stop();
      if (ownsDataDir) {
        await rm(dataDir, { recursive: true, force: true });
        forgetTempDir(dataDir);
      }
    },
    logTail: () => log,
  };
}
