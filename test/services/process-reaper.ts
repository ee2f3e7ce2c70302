import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { Socket } from "node:net";

/*
 * Service processes and their temp dirs must not outlive the test run, however it ends.
 * vitest may end a worker with a signal, and anyone may SIGKILL vitest, so exit hooks are not
 * enough: a small bash reaper holds the read end of a pipe from us and, when the kernel closes
 * it because we died, kills the processes, removes the containers (with the docker CLI, which
 * reads the same DOCKER_HOST) and the dirs still registered. The 'exit' hook does the same at
 * once on a normal exit. Containers missed even so (the CLI absent, or killed mid-create) carry
 * an owner label: the next run's global setup removes them (docker.ts removeStaleContainers).
 */
const reaperScript = `
trap '' INT HUP TERM
declare -A pids dirs containers
while read -r op arg; do
  case $op in
    +) pids[$arg]=1 ;;
    -) unset "pids[$arg]" ;;
    d) dirs[$arg]=1 ;;
    k) unset "dirs[$arg]" ;;
    c) containers[$arg]=1 ;;
    r) unset "containers[$arg]" ;;
  esac
done
for pid in "\${!pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
if ((\${#containers[@]} > 0)); then docker rm -f -v "\${!containers[@]}" >/dev/null 2>&1; fi
sleep 0.2
for dir in "\${!dirs[@]}"; do rm -rf -- "$dir"; done
`;

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const containers = new Set<string>();
let reaper: ChildProcess | undefined;

function tellReaper(line: string): void {
  if (!reaper) {
    reaper = spawn("bash", ["-c", reaperScript], { stdio: ["pipe", "ignore", "ignore"] });
    // The reaper and its pipe must not keep this process alive.
    reaper.unref();
    if (reaper.stdin instanceof Socket) reaper.stdin.unref();
    reaper.stdin?.on("error", () => {});
    process.once("exit", cleanUpNow);
  }
  reaper.stdin?.write(`${line}\n`);
}

function cleanUpNow(): void {
  for (const child of liveChildren) child.kill("SIGKILL");
  if (containers.size > 0) {
    spawnSync("docker", ["rm", "-f", "-v", ...containers], { stdio: "ignore", timeout: 30_000 });
  }
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

/** Remove `dir` when this process exits (temp data dirs outlive stop() for restart()). */
export function removeOnExit(dir: string): void {
  tempDirs.add(dir);
  tellReaper(`d ${dir}`);
}

/** Forget a dir already removed, so nothing deletes a path someone may reuse later. */
export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
  tellReaper(`k ${dir}`);
}

/** Remove container `id` when this process exits, unless forgotten first. */
export function removeContainerOnExit(id: string): void {
  containers.add(id);
  tellReaper(`c ${id}`);
}

/** Forget a container already removed. */
export function forgetContainer(id: string): void {
  containers.delete(id);
  tellReaper(`r ${id}`);
}
