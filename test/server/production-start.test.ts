import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../services/local-process.js";
import { killOnExit } from "../services/process-reaper.js";

/*
 * The production start as README documents it: `npm run build` compiles to plain
 * JavaScript in dist/, and `npm start` execs `node dist/src/main.js`, so the process
 * a supervisor starts (or npm's only child) is the server and its signals reach it.
 */

const run = promisify(execFile);

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** From spawn to the server's "listening" log line. */
  startupMs: number;
}

/** Spawns `command` on the embedded default (no MONGO_URL / NATS_URL) and waits for "listening". */
async function startProduction(command: string, args: string[], port: number): Promise<Started> {
  const spawnedAt = performance.now();
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnExit(child);
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const startupMs = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('"msg":"listening"')) resolve(performance.now() - spawnedAt);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before listening:\n${out}`)));
  });
  return { child, output: () => out, exited, startupMs };
}

/** Whether anything accepts connections on the port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** The command lines of a process's children (Linux /proc). */
function childrenOf(pid: number): string[] {
  const ids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
  return ids
    .filter((id) => id !== "")
    .map((id) => readFileSync(`/proc/${id}/cmdline`, "utf8").split("\0").join(" ").trim());
}

describe("production start", () => {
  beforeAll(async () => {
    await run("npm", ["run", "-s", "build"], { env: process.env });
  });

  it("`npm start` runs the compiled server as npm's only child; SIGTERM to npm stops it cleanly", async () => {
    const port = await freePort();
    const started = await startProduction("npm", ["start"], port);
    console.log(`npm start: ${started.startupMs.toFixed(0)} ms from spawn to "listening"`);
    const pid = started.child.pid ?? 0;
    // No shell and no loader process in between: `exec node dist/src/main.js`.
    expect(childrenOf(pid)).toEqual([expect.stringMatching(/node dist\/src\/main\.js$/)]);
    expect(await accepts(port)).toBe(true);

    started.child.kill("SIGTERM");
    expect(await started.exited).toBe(0);
    expect(started.output()).toContain('"msg":"shutting down","signal":"SIGTERM"');
    expect(started.output()).toContain('"msg":"stopped"');
    expect(await accepts(port)).toBe(false);
  });

  it("`node dist/src/main.js` is the server: SIGTERM to it drains and frees the port", async () => {
    const port = await freePort();
    const started = await startProduction(process.execPath, ["dist/src/main.js"], port);
    console.log(
      `node dist/src/main.js: ${started.startupMs.toFixed(0)} ms from spawn to "listening"`,
    );
    expect(started.output()).toContain("in-memory store and in-process bus");

    started.child.kill("SIGTERM");
    expect(await started.exited).toBe(0);
    expect(started.output()).toContain('"msg":"stopped"');
    expect(await accepts(port)).toBe(false);
  });
});
