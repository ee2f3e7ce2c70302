import type { Client } from "@connectrpc/connect";
import { expect } from "vitest";
import type { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { text } from "./elements.js";
import { eventually } from "./eventually.js";

export interface SteadySender {
  /** Each acked client message id with its seq and the time its ack arrived. */
  acked: Map<string, { seq: bigint; at: number }>;
  /** Each run of failed sends that ended in an ack. */
  outages: { from: number; to: number }[];
  /** Failed sends so far. */
  failures(): number;
  /** Ids acked after `t` (a Date.now() time). */
  ackedAfter(t: number): Set<string>;
  /** Resolves once `n` messages are acked; `timeoutMs` is a hang guard. */
  untilAcked(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A steady one-to-one sender for fault tests: numbered messages ("m-0", ...) with
 * client message ids, one at a time, the same id retried after a failure (a
 * client's retry on Unavailable), recording each ack's seq and time and each run
 * of failures.
 */
export function steadySender(
  client: Client<typeof MessageService>,
  toUserId = "bob",
): SteadySender {
  const acked = new Map<string, { seq: bigint; at: number }>();
  const outages: { from: number; to: number }[] = [];
  let failures = 0;
  let failingSince: number | undefined;
  let running = true;
  const done = (async () => {
    for (let i = 0; running; ) {
      const id = `m-${i}`;
      try {
        const r = await client.sendMessage({ toUserId, body: [text(id)], clientMessageId: id });
        const at = Date.now();
        if (failingSince !== undefined) outages.push({ from: failingSince, to: at });
        failingSince = undefined;
        acked.set(id, { seq: r.seq, at });
        i++;
      } catch {
        failures++;
        failingSince ??= Date.now();
        // A client's retry pause; tests wait on acks, never on this.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return {
    acked,
    outages,
    failures: () => failures,
    ackedAfter: (t) => new Set([...acked].filter(([, a]) => a.at > t).map(([id]) => id)),
    // A hang guard: on a loaded machine a send may take a second or more.
    untilAcked: async (n, timeoutMs = 120_000) => {
      await eventually(async () => expect(acked.size).toBeGreaterThanOrEqual(n), timeoutMs, 20);
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}
