import type { BenchProtocol } from "./clients.js";
import { parseFlags, UsageError } from "./flags.js";
import { SERVER_ENV_USAGE } from "./server-env-option.js";

export type C2cMode = "sustained" | "fixed-rate" | "half-max" | "webhook";

export interface C2cOptions {
  mode: C2cMode;
  pairs: number;
  durationSec: number;
  warmupSec: number;
  /**
   * Messages/s across all senders; undefined in sustained mode (as fast as
   * acked) and in half-max mode (half of what its sustained phase delivered).
   */
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
  --rate R            fixed rate: R messages/s in total, open loop (e.g. --rate 1000); first
                      health Check at the same rate on the same server and client (the
                      latency floor of this machine in this run)
  --rate half         half-max: sustained (closed loop) on one server, then a fixed rate of
                      half what it delivered on a fresh one: p99 send->deliver <= 50 ms there
  --webhook           before-send webhook cost: the same fixed rate (default 200/s) without,
                      then with, a local endpoint that answers ALLOW; reports the added p50
  --pairs N           sender/receiver pairs (default 200); N*2 accounts, N live streams
  --duration S        measured seconds per phase (default 60; --duration 5 is a smoke run)
  --warmup S          unmeasured seconds before each phase (default min(5, duration/10))
  --concurrency C     sends outstanding at most (default: pairs)
  --connections K     HTTP/2 connections for senders, and K more for receivers (default 8)
  --protocol P        grpc (default) or connect (binary, HTTP/2)
  --store S           ferretdb (default) or memory: the server's in-process store, to see
                      the server's own ceiling with the database out of the path (diagnostic);
                      sustained runs first measure trivial unary calls (health Check,
                      WhoAmI) with the same client and judge delivered/s >= 0.8x Check
  --baseline S        seconds per raw-stack baseline (default min(5, max(2, duration/10)))
  --cpu-prof DIR      write a V8 CPU profile of the server to DIR (node --cpu-prof)
${SERVER_ENV_USAGE}`;

export function parseC2cOptions(argv: string[]): C2cOptions {
  const {
    values: flags,
    bools,
    serverEnv,
    num,
  } = parseFlags(
    argv,
    [
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
      "server-env",
    ],
    ["webhook"],
  );
  const webhook = bools.has("webhook");
  const halfMax = flags.get("rate") === "half";
  const mode: C2cMode = webhook
    ? "webhook"
    : halfMax
      ? "half-max"
      : flags.has("rate")
        ? "fixed-rate"
        : "sustained";
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
    rate:
      mode === "sustained" || mode === "half-max"
        ? undefined
        : num("rate", webhook ? 200 : 1000, 1, 100_000),
    concurrency: Math.floor(num("concurrency", pairs, 1, 20_000)),
    connections: Math.floor(num("connections", 8, 1, 256)),
    protocol,
    store,
    baselineSec: num("baseline", Math.min(5, Math.max(2, durationSec / 10)), 0.5, 60),
    cpuProfDir: flags.get("cpu-prof"),
    serverEnv,
  };
}
