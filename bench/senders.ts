import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { type MessageElement, MessageElementSchema } from "../src/gen/im/v1/elements_pb.js";
import { MessageService } from "../src/gen/im/v1/message_pb.js";
import { openLoop } from "./open-loop.js";
import type { Tracker } from "./tracker.js";

export interface Pair {
  sender: string;
  receiver: string;
}

export interface LoadOptions {
  pairs: Pair[];
  headersOf: (userId: string) => Record<string, string>;
  transports: Transport[];
  tracker: Tracker;
  warmupMs: number;
  durationMs: number;
  /** Messages per second across all senders; undefined: as fast as acks come back. */
  rate: number | undefined;
  /** Sends outstanding at most (closed loop: exactly this many). */
  concurrency: number;
  /** Called when warm-up ends and the measurement window opens. */
  onWindowOpen?: () => void;
}

export interface LoadResult {
  /** Rate mode: the largest number of sends that were due but held back by `concurrency`. */
  maxBacklog: number;
}

// A typical short chat line; size matters little next to the per-message round trips.
const BODY: MessageElement[] = [
  create(MessageElementSchema, {
    element: { case: "text", value: { text: "benchmark message: the quick brown fox jumps over" } },
  }),
];
const SEND_TIMEOUT_MS = 10_000;

/**
 * Sends from every sender to its own receiver for warm-up + duration. Without a
 * rate, `concurrency` workers each send the next message when the last is acked
 * (what the server sustains); with a rate, sends start on schedule (open loop) so
 * latency is measured at that load, bounded by `concurrency` outstanding.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { pairs, tracker } = options;
  const clients: Client<typeof MessageService>[] = options.transports.map((t) =>
    createClient(MessageService, t),
  );
  const headers = pairs.map((p) => options.headersOf(p.sender));
  const counters = new Array<number>(pairs.length).fill(0);

  const sendOne = async (pairIndex: number): Promise<void> => {
    const pair = pairs[pairIndex];
    const client = clients[pairIndex % clients.length];
    if (pair === undefined || client === undefined) return;
    const n = (counters[pairIndex] ?? 0) + 1;
    counters[pairIndex] = n;
    const id = `${pairIndex}.${n}`;
    tracker.sent(id);
    try {
      await client.sendMessage(
        { toUserId: pair.receiver, body: BODY, clientMessageId: id },
        { headers: headers[pairIndex], timeoutMs: SEND_TIMEOUT_MS },
      );
      tracker.acked(id);
    } catch (err) {
      tracker.failed(id, Code[ConnectError.from(err).code] ?? "unknown");
    }
  };

  const startedAt = performance.now();
  const endAt = startedAt + options.warmupMs + options.durationMs;
  const openWindow = () => {
    tracker.openWindow(options.durationMs);
    options.onWindowOpen?.();
  };
  let windowTimer: NodeJS.Timeout | undefined;
  if (options.warmupMs > 0) windowTimer = setTimeout(openWindow, options.warmupMs);
  else openWindow();
  try {
    if (options.rate === undefined) {
      await closedLoop(options.concurrency, pairs.length, endAt, sendOne);
      return { maxBacklog: 0 };
    }
    return await openLoop(
      options.rate,
      options.concurrency,
      pairs.length,
      startedAt,
      endAt,
      sendOne,
    );
  } finally {
    clearTimeout(windowTimer);
  }
}

async function closedLoop(
  concurrency: number,
  pairCount: number,
  endAt: number,
  sendOne: (pairIndex: number) => Promise<void>,
): Promise<void> {
  // Worker w drives pair w mod N, so with concurrency = N every sender has one send outstanding.
  const worker = async (w: number) => {
    while (performance.now() < endAt) await sendOne(w % pairCount);
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
}
