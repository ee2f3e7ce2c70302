import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildScript, servicesCacheDir } from "../services/paths.js";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** PATH with build.sh's tools (plugins, grpcurl) and Go's default install dir. */
export const toolPath = [
  join(servicesCacheDir(), "bin"),
  process.env.PATH ?? "",
  "/usr/local/go/bin",
].join(delimiter);

export interface ToolResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion; rejects with its output when it exits non-zero or runs
 * past `timeoutMs` (a hang guard: every step here takes seconds at most).
 */
export function runTool(
  file: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd ?? repoRoot,
        env: { ...process.env, PATH: toolPath, ...options.env },
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Fails with the fix when build.sh has not installed `path`. */
export function requireBuilt(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash ${buildScript}`);
  return path;
}

/** The buf CLI from the project's npm dependencies. */
export const bufBinary = join(repoRoot, "node_modules", ".bin", "buf");
