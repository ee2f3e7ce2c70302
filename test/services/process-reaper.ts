import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { Socket } from "node:net";

/*
 * Service processes must not outlive the test run, however it ends. A normal exit runs the
 * 'exit' hook below; a vitest process that is killed (even with SIGKILL) cannot run hooks, so a
 * small bash reaper holds the read end of a pipe from us and kills what is still registered
 * when that pipe reaches EOF, which the kernel guarantees when we die.
 */
const reaperScript = `
trap '' INT HUP
declare -A live
while read -r op pid; do
  if [[ $op == + ]]; then live[$pid]=1; else unset "live[$pid]"; fi
done
for pid in "\${!live[@]}"; do kill -9 "$pid" 2>/dev/null; done
`;

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let reaper: ChildProcess | undefined;

function startReaper(): ChildProcess {
  if (reaper) return reaper;
  reaper = spawn("bash", ["-c", reaperScript], { stdio: ["pipe", "ignore", "ignore"] });
  // The reaper and its pipe must not keep this process alive.
  reaper.unref();
  if (reaper.stdin instanceof Socket) reaper.stdin.unref();
  reaper.stdin?.on("error", () => {});
  process.once("exit", killEverything);
  return reaper;
}

function tellReaper(line: string): void {
  startReaper().stdin?.write(`${line}\n`);
}

function killEverything(): void {
  for (const child of liveChildren) child.kill("SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/** Kill `child` when this process exits, unless it has exited by itself first. */
export function killOnExit(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  liveChildren.add(child);
  tellReaper(`+ ${pid}`);
  child.once("exit", () => {
    liveChildren.delete(child);
    tellReaper(`- ${pid}`);
  });
}

/** Remove `dir` when this process exits (temporary data dirs outlive stop() for restart()). */
export function removeOnExit(dir: string): void {
  tempDirs.add(dir);
  startReaper();
}

/** Forget a dir already removed, so the exit hook does not touch a path someone may reuse. */
export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}
