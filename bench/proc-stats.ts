import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Memory and CPU of processes we started, read from /proc (Linux only), so the
 * report can say where the machine's two cores went, not only how fast it was.
 */

/** Resident set size now, in KiB; undefined once the process is gone. */
export function readRssKb(pid: number): number | undefined {
  return statusField(pid, "VmRSS");
}

/** Peak resident set size over the process's life (the kernel's high-water mark), KiB. */
export function readPeakRssKb(pid: number): number | undefined {
  return statusField(pid, "VmHWM");
}

function statusField(pid: number, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

let ticksPerSec: number | undefined;
function clockTicksPerSec(): number {
  if (ticksPerSec === undefined) {
    try {
      ticksPerSec = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    } catch {
      ticksPerSec = 100; // Linux's USER_HZ almost everywhere.
    }
  }
  return ticksPerSec;
}

/** User + system CPU seconds the process has used so far; undefined once it is gone. */
export function readCpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / clockTicksPerSec();
}

/**
 * The pid of a running process whose command line contains `needle` (e.g. a
 * unique temp data dir), for service processes whose handles do not expose one.
 */
export function findPidByArg(needle: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmdline.split("\0").includes(needle)) return Number(entry);
  }
  return undefined;
}

/** CPU seconds the whole machine spent busy (all cores, everything but idle and iowait). */
export function readMachineBusySeconds(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/stat", "utf8");
  } catch {
    return undefined;
  }
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) return undefined;
  // user nice system idle iowait irq softirq steal ...
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = v.reduce((sum, x, i) => (i === 3 || i === 4 ? sum : sum + (x || 0)), 0);
  return busy / clockTicksPerSec();
}

/**
 * CPU used by a set of processes between mark() and read(), as % of one core,
 * plus "others": everything else the machine ran meanwhile. On a shared
 * machine that last figure says whether a run can be trusted.
 */
export interface CpuMeter {
  mark(): void;
  /** Per name: CPU % of one core since mark() (200 = both cores of a 2-core machine). */
  read(): Record<string, number>;
}

export function createCpuMeter(pids: Record<string, number | undefined>): CpuMeter {
  let startedAt = 0;
  let start: Record<string, number | undefined> = {};
  const sample = (): Record<string, number | undefined> => ({
    ...Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        pid === undefined ? undefined : readCpuSeconds(pid),
      ]),
    ),
    machine: readMachineBusySeconds(),
  });
  return {
    mark() {
      startedAt = performance.now();
      start = sample();
    },
    read() {
      const elapsedSec = (performance.now() - startedAt) / 1000;
      const end = sample();
      const out: Record<string, number> = {};
      for (const [name, before] of Object.entries(start)) {
        const after = end[name];
        if (before === undefined || after === undefined || elapsedSec <= 0) continue;
        out[name] = Math.round(((after - before) / elapsedSec) * 100);
      }
      const machine = out.machine;
      if (machine !== undefined) {
        delete out.machine;
        const ours = Object.values(out).reduce((a, b) => a + b, 0);
        out.others = Math.max(0, machine - ours);
      }
      return out;
    },
  };
}

/** Samples one process's RSS on a timer and keeps the maximum. */
export interface RssSampler {
  stop(): { maxKb: number; lastKb: number };
}

export function sampleRss(pid: number, everyMs = 250): RssSampler {
  let maxKb = 0;
  let lastKb = 0;
  const take = () => {
    const kb = readRssKb(pid);
    if (kb === undefined) return;
    lastKb = kb;
    if (kb > maxKb) maxKb = kb;
  };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxKb, lastKb };
    },
  };
}

/** Resident KiB by kind of mapping: the malloc heap ([heap]), other anonymous memory, files. */
export interface RssByMapping {
  mallocHeap: number;
  anonymous: number;
  files: number;
}

/** The process's RSS split by mapping (from /proc/PID/smaps); undefined off Linux. */
export function readRssByMapping(pid: number): RssByMapping | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return undefined;
  }
  const out: RssByMapping = { mallocHeap: 0, anonymous: 0, files: 0 };
  let kind: keyof RssByMapping = "anonymous";
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header !== null) {
      const name = header[2] ?? "";
      kind = name === "[heap]" ? "mallocHeap" : name.startsWith("/") ? "files" : "anonymous";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) out[kind] += Number(rss[1]);
  }
  return out;
}
