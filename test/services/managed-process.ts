import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { forgetTempDir, removeOnExit } from "./process-reaper.js";
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

/** One running instance of a server, however it runs (a local process or a container). */
export interface Launched {
  /** Resolves once it has exited (and whatever held it, e.g. a container, is gone). */
  readonly exited: Promise<void>;
  /** Why it is no longer running, or undefined while it runs. */
  exitReason(): string | undefined;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Runs a server binary with arguments: as a local process, or in a container with host
 * networking and the data dir mounted at the same path, so ports, paths and URLs are the same.
 */
export interface Runner {
  /** What runs, for messages: a binary path or an image. */
  readonly what: string;
  launch(args: string[], onOutput: (chunk: Buffer) => void, dataDir: string): Promise<Launched>;
}

export interface ProcessSpec {
  /** Human name for messages, e.g. "FerretDB". */
  name: string;
  runner: Runner;
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

const logTailBytes = 16_384;
const verbose = process.env.IM_TEST_SERVICES_VERBOSE === "1";

export async function startManagedProcess(
  spec: ProcessSpec,
  options: ProcessOptions,
  choosePort: () => Promise<number>,
): Promise<ServiceProcess> {
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

  const startOn = async (port: number): Promise<Launched> => {
    const url = spec.url(port);
    const what = `${spec.name} (${spec.runner.what}, ${url}, data ${dataDir})`;
    let running: Launched;
    try {
      running = await spec.runner.launch(spec.args(port, dataDir), appendLog, dataDir);
    } catch (error) {
      throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    try {
      await waitUntil(() => spec.probe(url), {
        what,
        timeoutMs,
        giveUp: () => running.exitReason(),
      });
      return running;
    } catch (error) {
      running.kill("SIGKILL");
      await running.exited;
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}\n--- ${spec.name} output ---\n${log}`, { cause: error });
    }
  };

  // A port picked by us can be taken by a parallel worker before the child binds it: retry.
  let port = options.port ?? (await choosePort());
  let current: Launched | undefined;
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
    running.kill(signal);
    if (signal !== "SIGKILL") {
      const graceful = await Promise.race([
        running.exited.then(() => true),
        sleep(10_000, false, { ref: false }),
      ]);
      if (!graceful) running.kill("SIGKILL");
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
