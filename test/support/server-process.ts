import { type ChildProcess, spawn } from "node:child_process";
import { TEST_APP_ID, TEST_SECRET_KEY } from "./clients.js";
import { ADMIN, UNREACHED_RATE_LIMITS } from "./test-app.js";

export interface ServerProcess {
  port: number;
  baseUrl: string;
  /** Kills the process (SIGKILL by default: no shutdown hooks run) and waits for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same settings (clients reconnect to it). */
  restart(): Promise<void>;
  output(): string;
  /** The running process's id (for sampling its memory), undefined once it exited. */
  pid(): number | undefined;
}

/**
 * Runs the server from source (`node --import tsx src/main.ts`, as `npm run dev` does; no
 * build needed) as a real child process, so fault tests can kill -9 it mid-send. The first
 * start takes a port from the OS (a port picked beforehand may be taken by a parallel test
 * before the server binds it); restarts reuse it.
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  let child: ChildProcess | undefined;
  let out = "";
  let port = 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      // Only this start's output counts: an earlier run logged "listening" too.
      const from = out.length;
      const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: {
          PATH: process.env.PATH ?? "",
          HOST: "127.0.0.1",
          ...UNREACHED_RATE_LIMITS,
          PORT: String(port),
          APP_ID: String(TEST_APP_ID),
          APP_SECRET_KEY: TEST_SECRET_KEY,
          ADMIN_USER_IDS: ADMIN,
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = proc;
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000); // a hang guard: tsx alone takes seconds under load
      proc.stderr?.on("data", (d: Buffer) => {
        out += d;
        const listening = /"msg":"listening".*?"port":(\d+)/.exec(out.slice(from));
        if (listening !== null) {
          port = Number(listening[1]);
          clearTimeout(timer);
          resolve();
        }
      });
      proc.stdout?.on("data", (d: Buffer) => {
        out += d;
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${out}`));
      });
    });
  await start();
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    async kill(signal = "SIGKILL") {
      const proc = child;
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.kill(signal);
      });
    },
    async restart() {
      out += "\n--- restart ---\n";
      await start();
    },
    output: () => out,
    pid: () => (child?.exitCode === null && child.signalCode === null ? child.pid : undefined),
  };
}
