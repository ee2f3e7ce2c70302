import { spawn } from "node:child_process";
import { buildScript } from "./paths.js";

// build.sh's "nothing to do" lines; everything else (building, failures) is worth showing live.
const quiet = /up to date|already installed/;

/**
 * Runs build.sh, which is instant when the cached binaries match this checkout and builds
 * them otherwise (minutes, the first time). Resolves to an error message instead of
 * throwing: a missing Go toolchain only matters to tests that need local processes, and
 * they say so themselves.
 */
export async function ensureLocalBinaries(): Promise<string | undefined> {
  const output: string[] = [];
  const show = (chunk: Buffer): void => {
    const text = chunk.toString();
    output.push(text);
    for (const line of text.split("\n")) {
      if (line && !quiet.test(line)) process.stderr.write(`[test services] ${line}\n`);
    }
  };
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn("bash", [buildScript], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", show);
    child.stderr.on("data", show);
    child.once("error", (error) => resolve(error.message));
    child.once("exit", (exitCode, signal) => resolve(exitCode ?? String(signal)));
  });
  return code === 0 ? undefined : `${buildScript} failed (${code}):\n${output.join("")}`;
}
