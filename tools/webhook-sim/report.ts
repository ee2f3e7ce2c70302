import { toJson } from "@bufbuild/protobuf";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { BeforeSendReplySchema } from "../../src/gen/im/v1/webhook_pb.js";
import { contentOf, isBeforeSendEvent } from "../../src/webhooks/index.js";
import { diffContent } from "./diff.js";
import type { Output } from "./io.js";
import type { ReplayResult } from "./replay.js";
import { VERDICT_NAMES, type VerdictName, verdictMeaning } from "./verdicts.js";

const MAX_SHOWN_BODY = 300;

/** Nearest-rank percentile of unsorted values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}

const ms = (value: number): string => `${value.toFixed(value < 10 ? 1 : 0)} ms`;

const statusOf = (r: ReplayResult): string => {
  switch (r.result.kind) {
    case "response":
      return `HTTP ${r.result.status}`;
    case "timeout":
      return "no reply";
    case "connection-error":
      return r.result.code ?? "conn error";
  }
};

const truncate = (s: string): string =>
  s.length > MAX_SHOWN_BODY ? `${s.slice(0, MAX_SHOWN_BODY)}… (${s.length} chars)` : s;

/** The reply as the server read it: canonical JSON when it parsed, else the raw text. */
export function replyShown(r: ReplayResult): string | undefined {
  if (r.evaluation.type === "before-send" && r.evaluation.outcome.kind === "reply") {
    return JSON.stringify(toJson(BeforeSendReplySchema, r.evaluation.outcome.reply));
  }
  if (r.result.kind === "response") {
    return r.result.body === "" ? "(empty body)" : truncate(r.result.body);
  }
  return undefined;
}

/** Lines printed for one replayed event. */
export function formatResult(r: ReplayResult, total: number): string {
  const width = String(total).length;
  const label = r.name === undefined ? "" : `  ${r.name}`;
  const lines = [
    `[${String(r.index).padStart(width)}/${total}] ${r.event}  ${r.request.eventId}  ${statusOf(r)}  ${ms(r.result.latencyMs)}${label}`,
    `    verdict: ${verdictMeaning(r.evaluation)}`,
  ];
  const reply = replyShown(r);
  if (reply !== undefined) {
    lines.push(`    reply:   ${reply}${r.evaluation.type === "notification" ? "  (ignored)" : ""}`);
  }
  if (r.evaluation.type === "before-send" && r.evaluation.verdict.kind === "modified") {
    const event = r.request.event;
    if (event.case !== undefined && isBeforeSendEvent(event)) {
      const after = {
        body: r.evaluation.verdict.body,
        cloudCustomData: r.evaluation.verdict.cloudCustomData,
      };
      for (const line of diffContent(contentOf(event), after)) lines.push(`    ${line}`);
    }
  }
  if (r.recordedVerdict !== undefined && r.recordedVerdict !== r.verdict) {
    lines.push(`    CHANGED: recorded verdict was ${r.recordedVerdict}`);
  }
  return `${lines.join("\n")}\n`;
}

export interface ReplaySummary {
  total: number;
  counts: Partial<Record<VerdictName, number>>;
  latencyMs: { p50: number; p99: number; max: number };
  byVerdict: Partial<Record<VerdictName, { p50: number; p99: number }>>;
  /** Events whose verdict differs from the one recorded with them. */
  changed: number;
  /** Events that had a recorded verdict to compare with. */
  compared: number;
}

export function summarize(results: readonly ReplayResult[]): ReplaySummary {
  const counts: Partial<Record<VerdictName, number>> = {};
  const latencies = new Map<VerdictName, number[]>();
  let changed = 0;
  let compared = 0;
  for (const r of results) {
    counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
    latencies.set(r.verdict, [...(latencies.get(r.verdict) ?? []), r.result.latencyMs]);
    if (r.recordedVerdict !== undefined) {
      compared += 1;
      if (r.recordedVerdict !== r.verdict) changed += 1;
    }
  }
  const all = results.map((r) => r.result.latencyMs);
  const byVerdict: ReplaySummary["byVerdict"] = {};
  for (const [verdict, values] of latencies) {
    byVerdict[verdict] = { p50: percentile(values, 50), p99: percentile(values, 99) };
  }
  return {
    total: results.length,
    counts,
    latencyMs: { p50: percentile(all, 50), p99: percentile(all, 99), max: Math.max(0, ...all) },
    byVerdict,
    changed,
    compared,
  };
}

/** The summary table: every before-send verdict (zeros included) and any other verdict seen. */
export function formatSummary(summary: ReplaySummary, failOn: ReadonlySet<VerdictName>): string {
  const rows: [string, string, string, string][] = [["verdict", "count", "p50", "p99"]];
  for (const name of VERDICT_NAMES) {
    const count = summary.counts[name] ?? 0;
    if (count === 0 && name === "acknowledged") continue;
    const lat = summary.byVerdict[name];
    const mark = failOn.has(name) && count > 0 ? " !" : "";
    rows.push([
      `${name}${mark}`,
      String(count),
      lat === undefined ? "-" : ms(lat.p50),
      lat === undefined ? "-" : ms(lat.p99),
    ]);
  }
  rows.push(["total", String(summary.total), ms(summary.latencyMs.p50), ms(summary.latencyMs.p99)]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]?.length ?? 0)));
  const line = (r: string[]): string =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join("   ");
  const rule = "-".repeat(widths.reduce((a, b) => a + b, 0) + 9);
  const out = [
    line(rows[0] ?? []),
    rule,
    ...rows.slice(1, -1).map(line),
    rule,
    line(rows.at(-1) ?? []),
  ];
  if (summary.compared > 0) {
    out.push(`changed vs recording: ${summary.changed} of ${summary.compared}`);
  }
  const failed = [...failOn].filter((v) => (summary.counts[v] ?? 0) > 0);
  if (failed.length > 0) out.push(`FAIL: events ended in ${failed.join(", ")} (--fail-on)`);
  return `${out.join("\n")}\n`;
}

/** One JSON object per event for `--json`. */
export function resultJson(r: ReplayResult): Record<string, unknown> {
  return {
    type: "event",
    index: r.index,
    source: r.source,
    ...(r.name === undefined ? {} : { name: r.name }),
    command: r.event,
    eventId: r.request.eventId,
    latencyMs: Math.round(r.result.latencyMs * 10) / 10,
    outcome: r.result.kind,
    status: r.result.kind === "response" ? r.result.status : null,
    ...(r.result.kind === "connection-error" ? { error: r.result.error } : {}),
    reply: replyJsonValue(r),
    verdict: r.verdict,
    detail: verdictDetail(r),
    ...(r.recordedVerdict === undefined
      ? {}
      : { recordedVerdict: r.recordedVerdict, changed: r.recordedVerdict !== r.verdict }),
  };
}

function verdictDetail(r: ReplayResult): Record<string, unknown> {
  const verdict = r.evaluation.verdict;
  if (verdict.kind !== "modified") return { ...verdict };
  const event = r.request.event;
  const original =
    event.case !== undefined && isBeforeSendEvent(event) ? contentOf(event) : undefined;
  return {
    kind: verdict.kind,
    body: verdict.body.map((e) => toJson(MessageElementSchema, e)),
    cloudCustomData: verdict.cloudCustomData,
    ...(original === undefined ? {} : { diff: diffContent(original, verdict) }),
  };
}

function replyJsonValue(r: ReplayResult): unknown {
  if (r.evaluation.type === "before-send" && r.evaluation.outcome.kind === "reply") {
    return toJson(BeforeSendReplySchema, r.evaluation.outcome.reply);
  }
  return r.result.kind === "response" ? r.result.body : null;
}

/** A one-line, self-overwriting progress indicator for terminals; silent otherwise. */
export function createProgress(out: Output, total: number) {
  let done = 0;
  let inFlight = 0;
  let shown = false;
  const draw = (): void => {
    if (!out.isTTY) return;
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    out.write(`\r\x1b[Kreplaying ${done}/${total} (${pct}%), ${inFlight} in flight`);
    shown = true;
  };
  return {
    started(): void {
      inFlight += 1;
      draw();
    },
    finished(): void {
      inFlight -= 1;
      done += 1;
      draw();
    },
    /** Erase the line before other output goes to the same terminal. */
    clear(): void {
      if (shown && out.isTTY) out.write("\r\x1b[K");
      shown = false;
    },
    redraw: draw,
  };
}
