import { cpus, loadavg } from "node:os";
import type { DropResult } from "./group-drop.js";
import type { GroupOptions } from "./group-options.js";
import type { GroupPhaseResult } from "./group-phase.js";
import type { RawFramesRun } from "./group-raw-frames.js";
import type { BenchGroup } from "./group-setup.js";
import type { CatchUp, WorkResult } from "./group-work.js";
import { type LatencySummary, round, roundSummary } from "./latency.js";
import type { RawBaseline } from "./raw-baseline.js";

export interface GroupRunResult {
  accounts: number;
  streams: number;
  connections: number;
  setupSec: number;
  streamsOpenSec: number;
  groups: { group: BenchGroup; paced: GroupPhaseResult; rate: number; loaded: GroupPhaseResult }[];
  work: WorkResult | undefined;
  drop: DropResult | undefined;
  streamFailures: number;
  firstStreamFailure: string | undefined;
  /** Phases that failed, with the error. */
  errors: string[];
  serverRssMaxMb: number;
  serverRssPeakMb: number | undefined;
  /** The raw pre-encoded-frame baseline of each of `groups` (same index), if run. */
  rawFrames: RawFramesRun[];
}

export interface GroupReport {
  json: Record<string, unknown>;
  summary: string;
}

interface Target {
  target: string;
  measured: string;
  met: boolean;
}

const TYPE_NAMES: Record<number, string> = { 1: "Work", 2: "Public", 5: "Community" };

export function reportGroup(
  options: GroupOptions,
  raw: RawBaseline,
  r: GroupRunResult,
): GroupReport {
  const groups = r.groups.map((g, i) => {
    const frames = r.rawFrames[i];
    return {
      members: g.group.memberIds.length,
      type: TYPE_NAMES[g.group.type] ?? String(g.group.type),
      paced: pacedJson(g.paced),
      loaded: { rate: g.rate, ...loadedJson(g.loaded) },
      ...(frames === undefined
        ? {}
        : { rawFrames: { paced: pacedJson(frames.paced), ...loadedJson(frames.loaded) } }),
      ratios: {
        deliveriesVsRawPublish: round(
          g.loaded.result.deliveriesPerSec / raw.jetstreamPublishPerSec,
          2,
        ),
        ...(frames === undefined
          ? {}
          : {
              deliveriesVsRawFrames: round(
                g.loaded.result.deliveriesPerSec / frames.loaded.result.deliveriesPerSec,
                2,
              ),
            }),
      },
    };
  });
  const targets = targetsOf(r);
  const json = {
    bench: "group",
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      store:
        options.store === "memory" ? "in-process memory (diagnostic)" : "FerretDB 1.24 (SQLite)",
      bus: "nats-server 2.10 (JetStream, file; live events on core NATS)",
      loadAvg1: round(loadavg()[0] ?? Number.NaN, 2),
    },
    config: {
      members: options.members,
      subscribe: options.subscribe,
      receiver: options.receiver,
      durationSec: options.durationSec,
      warmupSec: options.warmupSec,
      paced: options.pacedMessages,
      workMembers: options.workMembers,
      workRate: options.workRate,
      dropSec: options.dropSec,
      dropMembers: options.dropMembers,
      connections: options.connections,
      window: options.window,
      store: options.store,
    },
    setup: {
      accounts: r.accounts,
      streams: r.streams,
      connections: r.connections,
      setupSec: round(r.setupSec),
      streamsOpenSec: round(r.streamsOpenSec),
    },
    groups,
    ...(r.work === undefined ? {} : { work: workJson(r.work) }),
    ...(r.drop === undefined ? {} : { drop: dropJson(r.drop) }),
    errors: r.errors,
    streamFailures: r.streamFailures,
    ...(r.firstStreamFailure === undefined ? {} : { firstStreamFailure: r.firstStreamFailure }),
    serverRssMaxMb: round(r.serverRssMaxMb),
    serverRssPeakMb: r.serverRssPeakMb === undefined ? null : round(r.serverRssPeakMb),
    raw: {
      jetstreamPublishPerSec: round(raw.jetstreamPublishPerSec),
      jetstreamPublishP50Ms: round(raw.jetstreamPublishP50Ms, 3),
      insertPerSec: round(raw.insertPerSec),
      insertP50Ms: round(raw.insertP50Ms, 3),
      counterIncPerSec: round(raw.counterIncPerSec),
      counterIncP50Ms: round(raw.counterIncP50Ms, 3),
      concurrency: raw.concurrency,
    },
    targets,
  };
  return { json, summary: summaryLines(options, r, raw, targets).join("\n") };
}

const lat = (s: LatencySummary) =>
  `p50 ${round(s.p50, 1)} / p99 ${round(s.p99, 1)} / max ${round(s.max, 1)} ms`;

function pacedJson(p: GroupPhaseResult) {
  return {
    messages: p.result.sent,
    fullyDelivered: p.result.fullyDelivered,
    sendToLastMs: roundSummary(p.result.sendToLastMs),
    sendToFirstMs: roundSummary(p.result.sendToFirstMs),
    sendToAckMs: roundSummary(p.result.sendToAckMs),
  };
}

function loadedJson(p: GroupPhaseResult) {
  const x = p.result;
  return {
    deliveriesPerSec: round(x.deliveriesPerSec),
    // Below the asked rate when the window of undelivered messages held the sender back.
    sentPerSec: round(x.sent / x.windowSec, 1),
    deliveriesEachSecond: x.deliveriesEachSecond,
    sendToLastMs: roundSummary(x.sendToLastMs),
    sendToFirstMs: roundSummary(x.sendToFirstMs),
    sendToAckMs: roundSummary(x.sendToAckMs),
    sent: x.sent,
    accepted: x.accepted,
    dropped: x.dropped,
    failed: x.failed,
    failures: x.failures,
    fullyDelivered: x.fullyDelivered,
    incompleteMessages: x.incompleteMessages,
    missingDeliveries: x.missingDeliveries,
    extraDeliveries: x.extraDeliveries,
    maxBacklog: p.maxBacklog,
    serverRssMaxMb: round(p.serverRssMaxMb),
    cpuPctOfOneCore: p.cpuPct,
  };
}

const failedNote = (c: CatchUp) =>
  c.failed === 0 ? "" : `; ${c.failed} members FAILED: ${c.firstError}`;

function workJson(w: WorkResult) {
  return {
    online: w.online,
    offline: w.offline,
    storedMessages: w.stored,
    live: loadedJson(w.phase),
    sync: { ...w.sync, seconds: round(w.sync.seconds, 2) },
    history: { ...w.history, seconds: round(w.history.seconds, 2) },
  };
}

function dropJson(d: DropResult) {
  return {
    rate: d.rate,
    seconds: d.seconds,
    acceptedPerSec: round(d.acceptedPerSec),
    byPriority: d.byPriority,
    failures: d.phase.result.failures,
    sendToAckMs: roundSummary(d.phase.result.sendToAckMs),
  };
}

function targetsOf(r: GroupRunResult): Target[] {
  const targets: Target[] = [];
  const best = r.groups.reduce<(typeof r.groups)[number] | undefined>(
    (a, g) =>
      a === undefined || g.loaded.result.deliveriesPerSec > a.loaded.result.deliveriesPerSec
        ? g
        : a,
    undefined,
  );
  if (best !== undefined) {
    const x = best.loaded.result;
    targets.push({
      target: ">= 100,000 deliveries/s",
      measured: `${round(x.deliveriesPerSec)}/s to the ${best.group.memberIds.length}-member group (${best.rate} msg/s offered, ${x.incompleteMessages} messages incomplete)`,
      met: x.deliveriesPerSec >= 100_000 && x.incompleteMessages === 0,
    });
  }
  const tenK = r.groups.find((g) => g.group.memberIds.length >= 10_000);
  if (tenK !== undefined) {
    const x = tenK.loaded.result;
    targets.push({
      target: "10,000-member group fully delivered within 1 s p99",
      measured: `under ${tenK.rate} msg/s: p99 ${round(x.sendToLastMs.p99)} ms (${x.fullyDelivered}/${x.accepted} fully delivered); unloaded: p99 ${round(tenK.paced.result.sendToLastMs.p99)} ms`,
      met: x.sendToLastMs.p99 <= 1000 && x.incompleteMessages === 0,
    });
  }
  return targets;
}

function summaryLines(
  options: GroupOptions,
  r: GroupRunResult,
  raw: RawBaseline,
  targets: Target[],
): string[] {
  const lines = [
    `group${options.store === "memory" ? " (in-memory store)" : ""}: ${r.streams} live streams over ${r.connections} HTTP/2 connections (${options.receiver} receiver), ${r.accounts} accounts (set-up ${round(r.setupSec)} s, streams open in ${round(r.streamsOpenSec)} s)`,
  ];
  const cpuOf = (p: GroupPhaseResult) =>
    Object.entries(p.cpuPct)
      .map(([k, v]) => `${k} ${v}%`)
      .join(", ");
  for (const [i, g] of r.groups.entries()) {
    const n = g.group.memberIds.length;
    const x = g.loaded.result;
    const cpu = cpuOf(g.loaded);
    const frames = r.rawFrames[i];
    lines.push(
      `  ${n} members (${TYPE_NAMES[g.group.type]}), all online`,
      `    unloaded          send->last member ${lat(g.paced.result.sendToLastMs)} (${g.paced.result.fullyDelivered}/${g.paced.result.sent} complete)`,
      `    at ${g.rate} msg/s      ${round(x.deliveriesPerSec)} deliveries/s, ${round(x.sent / x.windowSec, 1)} msg/s sent (per second ${x.deliveriesEachSecond.join(" ")})`,
      `    send->last member ${lat(x.sendToLastMs)}; ->first ${lat(x.sendToFirstMs)}; ->ack ${lat(x.sendToAckMs)}`,
      `    messages          ${x.sent} sent, ${x.accepted} stored, ${x.dropped} dropped, ${x.failed} failed, ${x.fullyDelivered} fully delivered, ${x.incompleteMessages} incomplete (${x.missingDeliveries} deliveries missing), ${x.extraDeliveries} extra`,
      `    server RSS max ${round(g.loaded.serverRssMaxMb)} MB; CPU (% of a core) ${cpu}`,
    );
    if (frames !== undefined) {
      const f = frames.loaded.result;
      lines.push(
        `    raw frames        unloaded send->last ${lat(frames.paced.result.sendToLastMs)}; ${round(f.deliveriesPerSec)} deliveries/s, ${round(f.sent / f.windowSec, 1)} msg/s sent; send->last ${lat(f.sendToLastMs)}; CPU (% of a core) ${cpuOf(frames.loaded)}`,
        `    server / raw      ${round(x.deliveriesPerSec / f.deliveriesPerSec, 2)}x (a ratio only where both sent below the asked rate, i.e. both saturated)`,
      );
    }
  }
  if (r.work !== undefined) {
    const w = r.work;
    const x = w.phase.result;
    lines.push(
      `  Work group, ${w.online} online + ${w.offline} offline`,
      `    live              ${round(x.deliveriesPerSec)} deliveries/s to the online half; send->last ${lat(x.sendToLastMs)}; ${x.incompleteMessages} incomplete`,
      `    sync afterwards   ${w.sync.complete}/${w.sync.members} offline members got all ${w.stored} stored messages (found ${w.sync.minFound}..${w.sync.maxFound}; ${w.sync.calls} calls in ${round(w.sync.seconds, 1)} s${failedNote(w.sync)})`,
      `    history           ${w.history.complete}/${w.history.members} sampled members saw all (found ${w.history.minFound}..${w.history.maxFound}; ${w.history.calls} calls in ${round(w.history.seconds, 1)} s${failedNote(w.history)})`,
    );
  }
  if (r.drop !== undefined) {
    const d = r.drop;
    const row = (name: keyof DropResult["byPriority"]) => {
      const c = d.byPriority[name];
      return `${name} ${c.accepted}/${c.sent} stored (${c.stored} in history, ${c.delivered} delivered), ${c.dropped} dropped${c.droppedButSeen > 0 ? ` (${c.droppedButSeen} DROPPED BUT SEEN)` : ""}${c.failed > 0 ? `, ${c.failed} failed` : ""}`;
    };
    lines.push(
      `  frequency control at ${d.rate} msg/s for ${d.seconds} s: ${round(d.acceptedPerSec)} accepted/s`,
      `    ${row("high")}`,
      `    ${row("normal")}`,
      `    ${row("low")}`,
    );
  }
  lines.push(
    `  server RSS        max ${round(r.serverRssMaxMb)} MB (peak ${r.serverRssPeakMb === undefined ? "?" : round(r.serverRssPeakMb)} MB)`,
    `  raw stack         JetStream publish ${round(raw.jetstreamPublishPerSec)}/s, insertOne ${round(raw.insertPerSec)}/s, $inc upsert ${round(raw.counterIncPerSec)}/s (${raw.concurrency} outstanding)`,
    ...r.errors.map((e) => `  PHASE FAILED      ${e}`),
    ...(r.streamFailures > 0
      ? [`  STREAMS FAILED    ${r.streamFailures} (${r.firstStreamFailure})`]
      : []),
    ...targets.map(
      (t) => `  target            ${t.met ? "MET" : "NOT MET"}: ${t.target}: ${t.measured}`,
    ),
  );
  return lines;
}
