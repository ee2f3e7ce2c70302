import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Launched, Runner } from "./managed-process.js";
import { killOnExit } from "./process-reaper.js";

/** Runs `binary` as a child process, killed with us however we end (see process-reaper.ts). */
export function localRunner(binary: string): Runner {
  return {
    what: binary,
    launch: async (args, onOutput): Promise<Launched> => {
      if (!existsSync(binary)) {
        throw new Error(
          `binary not found at ${binary}; run \`npm run test-services\` (needs Go) to build it`,
        );
      }
      const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
      killOnExit(child);
      child.stdout?.on("data", onOutput);
      child.stderr?.on("data", onOutput);
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
      return { exited, exitReason: () => reason, kill: (signal) => child.kill(signal) };
    },
  };
}
