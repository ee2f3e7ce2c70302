import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { Health } from "../src/gen/grpc/health/v1/health_pb.js";
import { AccountService } from "../src/gen/im/v1/account_pb.js";
import { type ClosedLoopResult, loopResult, runClosedLoop } from "./closed-loop.js";
import { createLatencyRecorder, type LatencySummary } from "./latency.js";
import { openLoop } from "./open-loop.js";
import { readCpuSeconds } from "./proc-stats.js";

/** The trivial unary calls the send loop is compared with (issue 12, in-memory CPU target). */
export type UnaryCall = "health-check" | "who-am-i";

export interface UnaryBaseline {
  call: UnaryCall;
  ops: number;
  perSec: number;
  latencyMs: LatencySummary;
  /** Server CPU (user + system) per call in the window, ms. */
  serverCpuMsPerCall: number;
  serverCpuPct: number;
}

export interface UnaryBaselineOptions {
  /** The send loop's transports: same protocol, connections, HTTP/2 sessions. */
  transports: Transport[];
  /** Per sender, the same Authorization header its sends carry (by sender index). */
  headers: Record<string, string>[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  serverPid: number;
  /**
   * Calls per second, open loop (at most `concurrency` outstanding): the
   * latency floor of the machine, server and client at the send loop's rate.
   * Unset: closed loop (what the server sustains).
   */
  rate?: number;
}

/**
 * One closed loop of `call` on the bench's server, shaped like the send loop
 * (same transports, headers and number outstanding), with the server's CPU
 * time read from /proc around the measured window. `health-check` is
 * grpc.health.v1 Check: the standard empty call, through the same Connect
 * router and interceptors as every RPC but without auth; `who-am-i` adds the
 * UserSig check every authenticated call pays.
 */
export async function measureUnaryBaseline(
  call: UnaryCall,
  options: UnaryBaselineOptions,
): Promise<UnaryBaseline> {
  const op = callOf(call, options);
  const { rate, concurrency } = options;
  const run = (durationMs: number) =>
    rate === undefined
      ? runClosedLoop(op, { concurrency, durationMs })
      : runOpenLoop(op, { rate, concurrency, durationMs });
  if (options.warmupMs > 0) await run(options.warmupMs);
  const cpuBefore = readCpuSeconds(options.serverPid);
  const started = performance.now();
  const result = await run(options.durationMs);
  const elapsedSec = (performance.now() - started) / 1000;
  const cpuAfter = readCpuSeconds(options.serverPid);
  const cpuSec =
    cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : cpuAfter - cpuBefore;
  return {
    call,
    ops: result.ops,
    perSec: result.perSec,
    latencyMs: result.latencyMs,
    serverCpuMsPerCall: result.ops === 0 ? Number.NaN : (cpuSec * 1000) / result.ops,
    serverCpuPct: Math.round((cpuSec / elapsedSec) * 100),
  };
}

function callOf(call: UnaryCall, options: UnaryBaselineOptions): (i: number) => Promise<unknown> {
  const { transports, headers } = options;
  const pick = <T>(list: T[], i: number): T => list[i % list.length] as T;
  if (call === "health-check") {
    const clients: Client<typeof Health>[] = transports.map((t) => createClient(Health, t));
    return (i) =>
      pick(clients, i).check({ service: "" }, { headers: pick(headers, i), timeoutMs: 10_000 });
  }
  const clients: Client<typeof AccountService>[] = transports.map((t) =>
    createClient(AccountService, t),
  );
  return (i) => pick(clients, i).whoAmI({}, { headers: pick(headers, i), timeoutMs: 10_000 });
}

/** `op` at `rate` per second for `durationMs`, open loop; the latency of each call. */
async function runOpenLoop(
  op: (i: number) => Promise<unknown>,
  options: { rate: number; concurrency: number; durationMs: number },
): Promise<ClosedLoopResult> {
  const latency = createLatencyRecorder();
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  await openLoop(
    options.rate,
    options.concurrency,
    Number.MAX_SAFE_INTEGER,
    started,
    started + options.durationMs,
    async (i) => {
      const t0 = performance.now();
      try {
        await op(i);
        latency.add(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    },
  );
  return loopResult(latency, errors, firstError, started);
}
