import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import type { C2cOptions } from "./c2c-options.js";
import { type PhaseContext, type PhaseResult, runPhase } from "./c2c-phase.js";
import { createBenchApp } from "./clients.js";
import { round, roundSummary } from "./latency.js";
import { measureRawBaseline, type RawBaseline } from "./raw-baseline.js";
import { startStack } from "./stack.js";
import type { UnaryBaseline, UnaryCall } from "./unary-baseline.js";
import { startAllowEndpoint } from "./webhook-endpoint.js";

export interface C2cReport {
  json: Record<string, unknown>;
  summary: string;
}

/**
 * The one-to-one benchmark (issue 3): fresh FerretDB + nats-server, the raw
 * stack's rates on them, then the server as a child process under load from
 * this process over real HTTP/2. Modes: sustained (closed loop), fixed rate,
 * and webhook (the fixed rate without, then with, a before-send hook).
 */
export async function runC2c(
  options: C2cOptions,
  hooks: Pick<PhaseContext, "log" | "onAbort">,
): Promise<C2cReport> {
  const { log } = hooks;
  log("starting FerretDB and nats-server (fresh data dirs)");
  const stack = await startStack();
  const forgetStack = hooks.onAbort(() => stack.dispose());
  try {
    log(
      `raw stack baseline: JetStream publish, insertOne, $inc upsert (${options.baselineSec} s each)`,
    );
    const raw = await measureRawBaseline({
      natsUrl: stack.natsUrl,
      mongoUrl: stack.mongoUrl,
      durationMs: options.baselineSec * 1000,
      concurrency: 64,
    });
    const ctx: PhaseContext = {
      options,
      stack,
      app: createBenchApp(),
      tag: randomBytes(3).toString("hex"),
      ...hooks,
    };
    if (options.mode === "half-max") {
      const max = await runPhase(ctx, { name: "sustained", webhook: undefined });
      const rate = Math.max(1, Math.round(max.load.deliveredPerSec / 2));
      log(`max sustained ${round(max.load.deliveredPerSec)} delivered/s: half is ${rate}/s`);
      const half = await runPhase(ctx, {
        name: "half",
        webhook: undefined,
        unary: ["health-check"],
        rate,
      });
      return reportHalfMax(options, raw, max, half, rate);
    }
    if (options.mode !== "webhook") {
      // The in-memory CPU target compares the send loop with trivial calls on the
      // same server; a fixed rate is compared with the trivial call's latency at it.
      const unary: UnaryCall[] =
        options.mode === "fixed-rate"
          ? ["health-check"]
          : options.store === "memory"
            ? ["health-check", "who-am-i"]
            : [];
      const phase = await runPhase(ctx, { name: options.mode, webhook: undefined, unary });
      return reportSingle(options, raw, phase);
    }
    const endpoint = await startAllowEndpoint();
    const forgetEndpoint = hooks.onAbort(() => endpoint.close());
    try {
      const without = await runPhase(ctx, { name: "no-webhook", webhook: undefined });
      const withHook = await runPhase(ctx, { name: "webhook", webhook: endpoint });
      return reportWebhook(options, raw, without, withHook);
    } finally {
      await endpoint.close();
      forgetEndpoint();
    }
  } finally {
    log("stopping FerretDB and nats-server");
    await stack.dispose();
    forgetStack();
  }
}

function header(options: C2cOptions) {
  return {
    bench: "c2c",
    mode: options.mode,
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      store:
        options.store === "memory" ? "in-process memory (diagnostic)" : "FerretDB 1.24 (SQLite)",
      bus: "nats-server 2.10 (JetStream, file)",
      // The machine may be shared (CI, other work): its load says how much to trust a run.
      loadAvg1: round(loadavg()[0] ?? Number.NaN, 2),
    },
    config: {
      pairs: options.pairs,
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      rate: options.rate ?? null,
      concurrency: options.concurrency,
      connections: options.connections,
      protocol: options.protocol,
      store: options.store,
    },
  };
}

function phaseJson(p: PhaseResult) {
  const l = p.load;
  return {
    ackedPerSec: round(l.ackedPerSec),
    deliveredPerSec: round(l.deliveredPerSec),
    deliveredPerSecSlowestSecond: l.deliveredPerSecMin,
    deliveredPerSecFastestSecond: l.deliveredPerSecMax,
    deliveredEachSecond: l.deliveredEachSecond,
    sendToDeliverMs: roundSummary(l.sendToDeliverMs),
    sendToAckMs: roundSummary(l.sendToAckMs),
    attempted: l.attempted,
    acked: l.acked,
    failed: l.failed,
    failures: l.failures,
    delivered: l.delivered,
    undelivered: l.undelivered,
    duplicates: l.duplicates,
    maxBacklog: p.maxBacklog,
    streamFailures: p.streamFailures,
    ...(p.firstStreamFailure === undefined ? {} : { firstStreamFailure: p.firstStreamFailure }),
    serverRssMaxMb: round(p.serverRssMaxMb),
    serverRssPeakMb: p.serverRssPeakMb === undefined ? null : round(p.serverRssPeakMb),
    cpuPctOfOneCore: p.cpuPct,
    serverCpuMsPerMessage: round(p.serverCpuMsPerMessage, 3),
    storeCommandsPerMessage: p.storeCommands ?? null,
    busMessagesPerMessage: p.busMessages ?? null,
    ...(p.webhookRequests === undefined ? {} : { webhookRequests: p.webhookRequests }),
  };
}

function rawJson(raw: RawBaseline) {
  return {
    jetstreamPublishPerSec: round(raw.jetstreamPublishPerSec),
    jetstreamPublishP50Ms: round(raw.jetstreamPublishP50Ms, 3),
    insertPerSec: round(raw.insertPerSec),
    insertP50Ms: round(raw.insertP50Ms, 3),
    counterIncPerSec: round(raw.counterIncPerSec),
    counterIncP50Ms: round(raw.counterIncP50Ms, 3),
    concurrency: raw.concurrency,
    payloadBytes: raw.payloadBytes,
  };
}

function ratios(raw: RawBaseline, p: PhaseResult) {
  return {
    ackedVsRawInsert: round(p.load.ackedPerSec / raw.insertPerSec, 3),
    ackedVsRawCounterInc: round(p.load.ackedPerSec / raw.counterIncPerSec, 3),
    deliveredVsRawPublish: round(p.load.deliveredPerSec / raw.jetstreamPublishPerSec, 3),
    // How many raw inserts one send's ack costs in time, on this machine.
    ackP50InRawInsertP50s: round(p.load.sendToAckMs.p50 / raw.insertP50Ms, 1),
  };
}

interface Target {
  target: string;
  measured: string;
  met: boolean;
}

function reportSingle(options: C2cOptions, raw: RawBaseline, p: PhaseResult): C2cReport {
  const l = p.load;
  const targets: Target[] = [];
  if (options.mode === "sustained") {
    targets.push({
      target: ">= 5,000 delivered/s sustained for 60 s",
      measured: `${round(l.deliveredPerSec)}/s over ${round(l.windowSec)} s (slowest second ${l.deliveredPerSecMin})`,
      met: l.deliveredPerSec >= 5000 && l.windowSec >= 60 && l.undelivered === 0,
    });
  } else {
    const rate = options.rate ?? 0;
    targets.push({
      target: "p99 send->deliver <= 50 ms at 1,000 msg/s",
      measured: `p99 ${ms(l.sendToDeliverMs.p99)} ms at ${round(l.deliveredPerSec)} delivered/s (asked ${rate}/s)`,
      met: rate >= 1000 && l.deliveredPerSec >= 0.98 * rate && l.sendToDeliverMs.p99 <= 50,
    });
  }
  const unary = options.mode === "sustained" ? unaryJudgement(p) : undefined;
  if (unary !== undefined) targets.push(unary.target);
  const floor = latencyFloor(p);
  const json = {
    ...header(options),
    result: phaseJson(p),
    ...(unary === undefined ? {} : { unary: unary.json }),
    ...(floor === undefined ? {} : { latencyFloor: floor.json }),
    raw: rawJson(raw),
    ratios: ratios(raw, p),
    targets,
  };
  const lines = [
    `c2c ${options.mode}${options.store === "memory" ? " (in-memory store)" : ""}: ${options.pairs} pairs, ${options.durationSec} s measured${options.rate === undefined ? "" : `, ${options.rate} msg/s asked`}`,
    ...phaseLines(p),
    ...(unary?.lines ?? []),
    ...(floor?.lines ?? []),
    rawLine(raw),
    `  ratios            acked/raw insert ${json.ratios.ackedVsRawInsert}, delivered/raw publish ${json.ratios.deliveredVsRawPublish}`,
    ...targetLines(targets),
  ];
  return { json, summary: lines.join("\n") };
}

/**
 * The latency floor of a fixed-rate run: health Check at the same rate, open
 * loop, on the same server and client just before the sends. Its tail is what
 * this machine, the server's process and the client add to any call; what the
 * send loop's tail has beyond it is the message path's.
 */
function latencyFloor(
  p: PhaseResult,
): { json: Record<string, unknown>; lines: string[] } | undefined {
  const check = p.unary.find((u) => u.call === "health-check");
  if (check === undefined) return undefined;
  const lat = check.latencyMs;
  return {
    json: {
      call: check.call,
      perSec: round(check.perSec),
      latencyMs: roundSummary(lat),
      serverCpuMsPerCall: round(check.serverCpuMsPerCall, 3),
      sendToDeliverP99VsCallP99: round(p.load.sendToDeliverMs.p99 / lat.p99, 2),
    },
    lines: [
      `  floor             health Check at ${round(check.perSec)}/s (same server, client, rate): p50 ${ms(lat.p50)} / p90 ${ms(lat.p90)} / p99 ${ms(lat.p99)} / max ${ms(lat.max)} ms; server CPU ${round(check.serverCpuMsPerCall, 3)} ms per call`,
    ],
  };
}

/** Half-max (issue 12): the sustained rate, then p99 send->deliver at half of it. */
function reportHalfMax(
  options: C2cOptions,
  raw: RawBaseline,
  max: PhaseResult,
  half: PhaseResult,
  rate: number,
): C2cReport {
  const floor = latencyFloor(half);
  const l = half.load;
  const targets: Target[] = [
    {
      target: "p99 send->deliver <= 50 ms at half the maximum sustained rate",
      measured: `p99 ${ms(l.sendToDeliverMs.p99)} ms (p50 ${ms(l.sendToDeliverMs.p50)}) at ${round(l.deliveredPerSec)} delivered/s (asked ${rate}/s, half of ${round(max.load.deliveredPerSec)})`,
      met:
        l.deliveredPerSec >= 0.98 * rate &&
        l.failed === 0 &&
        l.undelivered === 0 &&
        l.sendToDeliverMs.p99 <= 50,
    },
  ];
  const json = {
    ...header(options),
    halfRate: rate,
    phases: { sustained: phaseJson(max), half: phaseJson(half) },
    ...(floor === undefined ? {} : { latencyFloor: floor.json }),
    raw: rawJson(raw),
    targets,
  };
  const lines = [
    `c2c half-max${options.store === "memory" ? " (in-memory store)" : ""}: ${options.pairs} pairs, ${options.durationSec} s per phase`,
    "  sustained (closed loop):",
    ...phaseLines(max),
    `  half of it (${rate} msg/s, open loop):`,
    ...phaseLines(half),
    ...(floor?.lines ?? []),
    rawLine(raw),
    ...targetLines(targets),
  ];
  return { json, summary: lines.join("\n") };
}

/**
 * The in-memory CPU target (issue 12): sent-and-delivered messages per second
 * against a trivial unary call's rate, same server, client and concurrency.
 * Judged against grpc.health.v1 Check (the empty call: Connect's pipeline and
 * nothing of ours); WhoAmI (plus the UserSig check) is shown beside it.
 */
function unaryJudgement(
  p: PhaseResult,
): { json: Record<string, unknown>; lines: string[]; target: Target } | undefined {
  const check = p.unary.find((u) => u.call === "health-check");
  if (check === undefined) return undefined;
  const rate = p.load.deliveredPerSec;
  const ratio = (u: UnaryBaseline) => round(rate / u.perSec, 3);
  const cpuRatio = (u: UnaryBaseline) => round(p.serverCpuMsPerMessage / u.serverCpuMsPerCall, 2);
  const json = {
    calls: p.unary.map((u) => ({
      call: u.call,
      perSec: round(u.perSec),
      ops: u.ops,
      latencyMs: roundSummary(u.latencyMs),
      serverCpuMsPerCall: round(u.serverCpuMsPerCall, 3),
      serverCpuPct: u.serverCpuPct,
      deliveredVsCall: ratio(u),
      cpuPerMessageVsCall: cpuRatio(u),
    })),
    judgedAgainst: check.call,
  };
  const lines = p.unary.map(
    (u) =>
      `  unary ${u.call.padEnd(12)} ${round(u.perSec)}/s (p50 ${ms(u.latencyMs.p50)} ms), server CPU ${round(u.serverCpuMsPerCall, 3)} ms per call (${u.serverCpuPct}% of a core); delivered/call ${ratio(u)}, CPU per message ${cpuRatio(u)}x a call`,
  );
  lines.unshift(
    `  server CPU        ${round(p.serverCpuMsPerMessage, 3)} ms per acked message (send + live delivery)`,
  );
  // On a shared machine the server may not be the busy process, and then the
  // rates say little: the CPU per operation must meet the same bound (1/0.8).
  const target: Target = {
    target:
      "in-memory delivered/s >= 0.8x a trivial unary call (health Check, same client), and server CPU per message <= 1.25x per call",
    measured: `${round(rate)} delivered/s vs ${round(check.perSec)} calls/s: ${ratio(check)}x; CPU ${round(p.serverCpuMsPerMessage, 3)} vs ${round(check.serverCpuMsPerCall, 3)} ms: ${cpuRatio(check)}x`,
    met:
      rate >= 0.8 * check.perSec &&
      p.serverCpuMsPerMessage <= 1.25 * check.serverCpuMsPerCall &&
      p.load.undelivered === 0 &&
      p.load.failed === 0,
  };
  return { json, lines, target };
}

function reportWebhook(
  options: C2cOptions,
  raw: RawBaseline,
  without: PhaseResult,
  withHook: PhaseResult,
): C2cReport {
  // A difference of medians means something only if neither phase was saturated:
  // queueing delay would swamp a hook's cost of a millisecond or two. (A brief
  // stall that is caught up does not move a median; a phase that falls behind does.)
  const rate = options.rate ?? 0;
  const saturated = [without, withHook].filter(
    (p) => p.load.failed > 0 || p.load.deliveredPerSec < 0.98 * rate,
  );
  const addedAck = withHook.load.sendToAckMs.p50 - without.load.sendToAckMs.p50;
  const addedDeliver = withHook.load.sendToDeliverMs.p50 - without.load.sendToDeliverMs.p50;
  const targets: Target[] = [
    {
      target: "before-send webhook adds <= 2 ms p50",
      measured:
        saturated.length > 0
          ? `not measurable: ${saturated.map((p) => p.name).join(" and ")} could not keep up with ${rate} msg/s (lower --rate)`
          : `${signed(addedAck)} ms p50 send->ack, ${signed(addedDeliver)} ms p50 send->deliver`,
      met: saturated.length === 0 && addedAck <= 2,
    },
  ];
  const json = {
    ...header(options),
    webhookAddedP50Ms: {
      sendToAck: round(addedAck, 2),
      sendToDeliver: round(addedDeliver, 2),
      valid: saturated.length === 0,
    },
    phases: { noWebhook: phaseJson(without), webhook: phaseJson(withHook) },
    raw: rawJson(raw),
    ratios: { noWebhook: ratios(raw, without), webhook: ratios(raw, withHook) },
    targets,
  };
  const lines = [
    `c2c webhook: ${options.pairs} pairs, ${options.rate} msg/s, ${options.durationSec} s per phase`,
    "  without webhook:",
    ...phaseLines(without),
    "  with before-send webhook (local endpoint, ALLOW):",
    ...phaseLines(withHook),
    rawLine(raw),
    ...targetLines(targets),
  ];
  return { json, summary: lines.join("\n") };
}

const signed = (v: number) => (v >= 0 ? `+${round(v, 2)}` : `${round(v, 2)}`);
/** NaN (no samples) reads as n/a rather than a number. */
const ms = (v: number) => (Number.isFinite(v) ? String(round(v, 1)) : "n/a");

function phaseLines(p: PhaseResult): string[] {
  const l = p.load;
  const lat = (s: typeof l.sendToDeliverMs) =>
    `p50 ${ms(s.p50)} / p99 ${ms(s.p99)} / max ${ms(s.max)} ms`;
  const cpu = Object.entries(p.cpuPct)
    .map(([k, v]) => `${k} ${v}%`)
    .join(", ");
  return [
    `  throughput        ${round(l.ackedPerSec)} acked/s, ${round(l.deliveredPerSec)} delivered/s (per-second delivered ${l.deliveredPerSecMin}..${l.deliveredPerSecMax})`,
    `  send->deliver     ${lat(l.sendToDeliverMs)}`,
    `  send->ack         ${lat(l.sendToAckMs)}`,
    `  messages          ${l.attempted} sent, ${l.acked} acked, ${l.failed} failed${l.failed > 0 ? ` ${JSON.stringify(l.failures)}` : ""}, ${l.delivered} delivered, ${l.undelivered} undelivered, ${l.duplicates} duplicate${p.maxBacklog > 0 ? `, backlog up to ${p.maxBacklog}` : ""}${p.streamFailures > 0 ? `, ${p.streamFailures} streams failed (${p.firstStreamFailure})` : ""}`,
    `  server RSS        max ${round(p.serverRssMaxMb)} MB (peak ${p.serverRssPeakMb === undefined ? "?" : round(p.serverRssPeakMb)} MB)`,
    `  CPU (% of a core) ${cpu}`,
    ...(p.busMessages === undefined
      ? []
      : [
          `  bus messages      ${p.busMessages.sentPerMessage} sent, ${p.busMessages.receivedPerMessage} received by the server per acked message (NATS)`,
        ]),
    ...(p.storeCommands === undefined
      ? []
      : [
          `  store commands    ${p.storeCommands.perMessage} per acked message, ${p.storeCommands.writesPerMessage} writes; ${p.storeCommands.perSend} per send started, ${p.storeCommands.writesPerSend} writes (per acked: ${Object.entries(
            p.storeCommands.byCommand,
          )
            .map(([name, n]) => `${name} ${n}`)
            .join(", ")})`,
        ]),
  ];
}

const rawLine = (raw: RawBaseline) =>
  `  raw stack         JetStream publish ${round(raw.jetstreamPublishPerSec)}/s (p50 ${round(raw.jetstreamPublishP50Ms, 2)} ms alone), insertOne ${round(raw.insertPerSec)}/s (p50 ${round(raw.insertP50Ms, 2)} ms alone), $inc upsert ${round(raw.counterIncPerSec)}/s (p50 ${round(raw.counterIncP50Ms, 2)} ms alone), ${raw.concurrency} outstanding`;

const targetLines = (targets: Target[]) =>
  targets.map(
    (t) => `  target            ${t.met ? "MET" : "NOT MET"}: ${t.target}: ${t.measured}`,
  );
