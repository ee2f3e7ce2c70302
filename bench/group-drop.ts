import { createClient, type Transport } from "@connectrpc/connect";
import { GroupMessageKind, GroupMessagePriority, GroupService } from "../src/gen/im/v1/group_pb.js";
import { type GroupPhaseContext, type GroupPhaseResult, runAtRate } from "./group-phase.js";
import type { BenchGroup } from "./group-setup.js";

/** The server's default GROUP_MESSAGE_RATE_MAX, which the bench server keeps. */
export const FREQUENCY_LIMIT = 40;

export type PriorityName = "high" | "normal" | "low";
const PRIORITIES: readonly [GroupMessagePriority, PriorityName][] = [
  [GroupMessagePriority.HIGH, "high"],
  [GroupMessagePriority.NORMAL, "normal"],
  [GroupMessagePriority.LOW, "low"],
];

export interface PriorityCounts {
  sent: number;
  /** Answered with a seq. */
  accepted: number;
  /** Answered success with seq 0. */
  dropped: number;
  failed: number;
  /** Found in the group's history afterwards. */
  stored: number;
  /** Reached every online member live. */
  delivered: number;
  /** Dropped yet stored or delivered: must stay 0. */
  droppedButSeen: number;
}

export interface DropResult {
  phase: GroupPhaseResult;
  rate: number;
  seconds: number;
  byPriority: Record<PriorityName, PriorityCounts>;
  /** Accepted per second of the phase, all priorities. */
  acceptedPerSec: number;
}

/**
 * Twice the frequency limit for a few seconds, priorities in turn (High,
 * Normal, Low): per priority, what was answered with a seq, what was dropped
 * (success, seq 0), and whether history and live streams agree with the answers.
 */
export async function runDrop(
  ctx: GroupPhaseContext,
  group: BenchGroup,
  options: {
    seconds: number;
    expected: number;
    transport: Transport;
    senderHeaders: Record<string, string>;
  },
): Promise<DropResult> {
  const rate = 2 * FREQUENCY_LIMIT;
  const priorityOfId = new Map<string, PriorityName>();
  const answers = new Map<string, bigint | undefined>();
  const entry = (n: number): [GroupMessagePriority, PriorityName] =>
    PRIORITIES[n % PRIORITIES.length] ?? [GroupMessagePriority.NORMAL, "normal"];
  const phase = await runAtRate(ctx, group, {
    label: "drop",
    rate,
    warmupSec: 0,
    durationSec: options.seconds,
    expected: options.expected,
    // Never the limit here: the server's frequency control is what is measured.
    window: 1000,
    priorityOf: (n) => entry(n)[0],
    onSent: (id, n, seq) => {
      priorityOfId.set(id, entry(n)[1]);
      answers.set(id, seq);
    },
  });
  const stored = await storedIds(group.groupId, options.transport, options.senderHeaders);
  const counts = (): PriorityCounts => ({
    sent: 0,
    accepted: 0,
    dropped: 0,
    failed: 0,
    stored: 0,
    delivered: 0,
    droppedButSeen: 0,
  });
  const byPriority: Record<PriorityName, PriorityCounts> = {
    high: counts(),
    normal: counts(),
    low: counts(),
  };
  let accepted = 0;
  for (const [id, name] of priorityOfId) {
    const c = byPriority[name];
    const seq = answers.get(id);
    const isStored = stored.has(id);
    const isDelivered = phase.tracker.isComplete(id);
    c.sent++;
    if (seq === undefined) c.failed++;
    else if (seq > 0n) {
      c.accepted++;
      accepted++;
    } else {
      c.dropped++;
      if (isStored || isDelivered) c.droppedButSeen++;
    }
    if (isStored) c.stored++;
    if (isDelivered) c.delivered++;
  }
  return {
    phase,
    rate,
    seconds: options.seconds,
    byPriority,
    acceptedPerSec: accepted / options.seconds,
  };
}

/** Client message ids of the ordinary messages in the group's history (the owner reads). */
async function storedIds(
  groupId: string,
  transport: Transport,
  headers: Record<string, string>,
): Promise<Set<string>> {
  const client = createClient(GroupService, transport);
  const ids = new Set<string>();
  let afterSeq = 0n;
  for (;;) {
    const res = await client.syncGroupMessages(
      { groupId, afterSeq, limit: 100 },
      { headers, timeoutMs: 60_000 },
    );
    for (const m of res.messages)
      if (m.kind === GroupMessageKind.NORMAL) ids.add(m.clientMessageId);
    if (!res.hasMore || res.coveredUpToSeq <= afterSeq) return ids;
    afterSeq = res.coveredUpToSeq;
  }
}
