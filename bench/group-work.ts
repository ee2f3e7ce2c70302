import { type Client, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { GroupMessageKind, GroupService } from "../src/gen/im/v1/group_pb.js";
import { type GroupPhaseContext, type GroupPhaseResult, runAtRate } from "./group-phase.js";
import type { BenchGroup } from "./group-setup.js";

export interface WorkResult {
  phase: GroupPhaseResult;
  online: number;
  offline: number;
  /** Messages the server stored in the phase (warm-up included): what sync must return. */
  stored: number;
  sync: CatchUp;
  history: CatchUp;
}

/** How the offline members caught up afterwards. */
export interface CatchUp {
  /** Members that read. */
  members: number;
  /** Of them, those that found every stored message of the phase. */
  complete: number;
  /** Members whose reads failed (e.g. timed out), with the first error. */
  failed: number;
  firstError?: string;
  /** Bench messages found, fewest and most per member. */
  minFound: number;
  maxFound: number;
  calls: number;
  seconds: number;
}

// Concurrent readers: a reconnect wave, not one member at a time (few: on FerretDB
// every read scans the member rows, and more readers only queue longer).
const READERS = 4;
// History pages are capped at 100 by the API; read it for a sample, sync for everyone.
const HISTORY_SAMPLE = 20;

/**
 * A Work group with half its members online: the live half gets every message,
 * then every offline member syncs from seq 0 (as a reconnecting client does),
 * and a sample reads history newest-first, both counting the phase's messages.
 */
export async function runWork(
  ctx: GroupPhaseContext,
  group: BenchGroup,
  options: {
    online: string[];
    offline: string[];
    rate: number;
    warmupSec: number;
    durationSec: number;
    window: number;
    transports: Transport[];
    headersOf: (userId: string) => Record<string, string>;
  },
): Promise<WorkResult> {
  const phase = await runAtRate(ctx, group, {
    label: "work",
    rate: options.rate,
    warmupSec: options.warmupSec,
    durationSec: options.durationSec,
    expected: options.online.length,
    window: options.window,
  });
  const stored = phase.tracker.acceptedIds();
  const clients = options.transports.map((t) => createClient(GroupService, t));
  ctx.log(`[work] ${options.offline.length} offline members sync; ${HISTORY_SAMPLE} read history`);
  const sync = await catchUp(options.offline, clients, stored, (client, userId) =>
    syncAll(client, group.groupId, options.headersOf(userId)),
  );
  const history = await catchUp(
    options.offline.slice(0, HISTORY_SAMPLE),
    clients,
    stored,
    (client, userId) => historyAll(client, group.groupId, options.headersOf(userId)),
  );
  return {
    phase,
    online: options.online.length,
    offline: options.offline.length,
    stored: stored.size,
    sync,
    history,
  };
}

type Reader = (
  client: Client<typeof GroupService>,
  userId: string,
) => Promise<{ ids: string[]; calls: number }>;

async function catchUp(
  userIds: string[],
  clients: Client<typeof GroupService>[],
  stored: Set<string>,
  read: Reader,
): Promise<CatchUp> {
  const startedAt = performance.now();
  let next = 0;
  let complete = 0;
  let failed = 0;
  let firstError: string | undefined;
  let calls = 0;
  let minFound = Number.POSITIVE_INFINITY;
  let maxFound = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length];
    if (client === undefined) return;
    for (let i = next++; i < userIds.length; i = next++) {
      const userId = userIds[i];
      if (userId === undefined) continue;
      let result: Awaited<ReturnType<Reader>>;
      try {
        result = await read(client, userId);
      } catch (err) {
        failed++;
        firstError ??= `${userId}: ${ConnectError.from(err).message}`;
        continue;
      }
      calls += result.calls;
      const found = result.ids.filter((id) => stored.has(id)).length;
      minFound = Math.min(minFound, found);
      maxFound = Math.max(maxFound, found);
      if (found === stored.size) complete++;
    }
  };
  await Promise.all(Array.from({ length: READERS }, (_, w) => worker(w)));
  return {
    members: userIds.length,
    complete,
    failed,
    ...(firstError === undefined ? {} : { firstError }),
    minFound: userIds.length === 0 ? 0 : minFound,
    maxFound,
    calls,
    seconds: (performance.now() - startedAt) / 1000,
  };
}

const CALL_TIMEOUT_MS = 60_000;

/** Every message from seq 0, page by page, as a reconnecting client fills its gap. */
async function syncAll(
  client: Client<typeof GroupService>,
  groupId: string,
  headers: Record<string, string>,
): Promise<{ ids: string[]; calls: number }> {
  const ids: string[] = [];
  let afterSeq = 0n;
  for (let calls = 1; ; calls++) {
    const res = await client.syncGroupMessages(
      { groupId, afterSeq, limit: 100 },
      { headers, timeoutMs: CALL_TIMEOUT_MS },
    );
    for (const m of res.messages)
      if (m.kind === GroupMessageKind.NORMAL) ids.push(m.clientMessageId);
    if (!res.hasMore || res.coveredUpToSeq <= afterSeq) return { ids, calls };
    afterSeq = res.coveredUpToSeq;
  }
}

/** History newest first, following the cursor to the end. */
async function historyAll(
  client: Client<typeof GroupService>,
  groupId: string,
  headers: Record<string, string>,
): Promise<{ ids: string[]; calls: number }> {
  const ids: string[] = [];
  let cursor = "";
  for (let calls = 1; ; calls++) {
    const res = await client.listGroupMessages(
      { groupId, page: { pageSize: 100, cursor } },
      { headers, timeoutMs: CALL_TIMEOUT_MS },
    );
    for (const m of res.messages)
      if (m.kind === GroupMessageKind.NORMAL) ids.push(m.clientMessageId);
    const nextCursor = res.page?.nextCursor ?? "";
    if (nextCursor === "") return { ids, calls };
    cursor = nextCursor;
  }
}
