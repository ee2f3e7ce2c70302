import type { BenchProtocol } from "./clients.js";
import { addServerEnv, SERVER_ENV_USAGE } from "./server-env-option.js";

export type C2cMode = "sustained" | "fixed-rate" | "webhook";

export interface C2cOptions {
  mode: C2cMode;
  pairs: number;
  durationSec: number;
  warmupSec: number;
  /** Messages/s across all senders; undefined in sustained mode (as fast as acked). */
  rate: number | undefined;
  /** Sends outstanding at most. */
  concurrency: number;
  /** HTTP/2 connections for senders, and as many again for receivers. */
  connections: number;
  protocol: BenchProtocol;
  /**
   * The server's document store. "memory" (the in-process store) is a diagnostic:
   * it shows the server's own ceiling with the database taken out of the path.
   */
  store: "ferretdb" | "memory";
  /** Seconds each raw-stack baseline runs. */
  baselineSec: number;
  /** Where the server writes a V8 CPU profile (per phase), if set. */
  cpuProfDir: string | undefined;
  /** Settings added to the server's environment (A/B runs of one setting). */
  serverEnv: Record<string, string>;
}

export const C2C_USAGE = `usage: npm run bench -- c2c [options]

  (default)           sustained: every sender sends its next message when the last is acked
  --rate R            fixed rate: R messages/s in total, open loop (e.g. --rate 1000)
  --webhook           before-send webhook cost: the same fixed rate (default 200/s) without,
                      then with, a local endpoint that answers ALLOW; reports the added p50
  --pairs N           sender/receiver pairs (default 200); N*2 accounts, N live streams
  --duration S        measured seconds per phase (default 60; --duration 5 is a smoke run)
  --warmup S          unmeasured seconds before each phase (default min(5, duration/10))
  --concurrency C     sends outstanding at most (default: pairs)
  --connections K     HTTP/2 connections for senders, and K more for receivers (default 8)
  --protocol P        grpc (default) or connect (binary, HTTP/2)
  --store S           ferretdb (default) or memory: the server's in-process store, to see
                      the server's own ceiling with the database out of the path (diagnostic)
  --baseline S        seconds per raw-stack baseline (default min(5, max(2, duration/10)))
  --cpu-prof DIR      write a V8 CPU profile of the server to DIR (node --cpu-prof)
${SERVER_ENV_USAGE}`;

export class UsageError extends Error {}

export function parseC2cOptions(argv: string[]): C2cOptions {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  const serverEnv: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined];
    if (name === "webhook" || name === "help") {
      bools.add(name);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (name === "server-env") {
      const problem = addServerEnv(value, serverEnv);
      if (problem !== undefined) throw new UsageError(problem);
      continue;
    }
    flags.set(name, value);
  }
  if (bools.has("help")) throw new UsageError("");
  const known = [
    "rate",
    "pairs",
    "duration",
    "warmup",
    "concurrency",
    "connections",
    "protocol",
    "store",
    "baseline",
    "cpu-prof",
  ];
  const unknown = [...flags.keys()].find((k) => !known.includes(k));
  if (unknown !== undefined) throw new UsageError(`unknown option --${unknown}`);

  const num = (name: string, fallback: number, min: number, max: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };

  const webhook = bools.has("webhook");
  const mode: C2cMode = webhook ? "webhook" : flags.has("rate") ? "fixed-rate" : "sustained";
  // Bounded so a typo cannot start an hour-long run or thousands of streams.
  const pairs = Math.floor(num("pairs", 200, 1, 5000));
  const durationSec = num("duration", 60, 1, 600);
  const protocol = flags.get("protocol") ?? "grpc";
  if (protocol !== "grpc" && protocol !== "connect") {
    throw new UsageError(`--protocol must be grpc or connect, got "${protocol}"`);
  }
  const store = flags.get("store") ?? "ferretdb";
  if (store !== "ferretdb" && store !== "memory") {
    throw new UsageError(`--store must be ferretdb or memory, got "${store}"`);
  }
  return {
    mode,
    pairs,
    durationSec,
    warmupSec: num("warmup", Math.min(5, durationSec / 10), 0, 60),
    rate: mode === "sustained" ? undefined : num("rate", webhook ? 200 : 1000, 1, 100_000),
    concurrency: Math.floor(num("concurrency", pairs, 1, 20_000)),
    connections: Math.floor(num("connections", 8, 1, 256)),
    protocol,
    store,
    baselineSec: num("baseline", Math.min(5, Math.max(2, durationSec / 10)), 0.5, 60),
    cpuProfDir: flags.get("cpu-prof"),
    serverEnv,
  };
}
