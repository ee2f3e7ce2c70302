import { randomBytes } from "node:crypto";
import { openNatsBus } from "../src/bus/nats-bus.js";
import { silentLogger } from "../src/log/logger.js";
import { runClosedLoop } from "./closed-loop.js";

/** The raw KV figures of this machine: what presence's writes are made of. */
export interface RawKv {
  /** Compare-and-set writes (get, then update at its revision) per second, `concurrency` outstanding. */
  casPerSec: number;
  /** One at a time: the floor of one get + update. */
  casP50Ms: number;
  concurrency: number;
}

/**
 * Get + update of one key per op on a JetStream KV bucket through the bus's own KV
 * adapter (a user's presence record is one such write; a status change does about
 * two more reads and a publish), so the bench's rates read as ratios of this.
 */
export async function measureRawKv(
  natsUrl: string,
  options: { durationMs: number; concurrency: number; keys: number },
): Promise<RawKv> {
  const bus = await openNatsBus({
    url: natsUrl,
    namespace: `bench_rawkv_${randomBytes(3).toString("hex")}`,
    logger: silentLogger,
  });
  try {
    const kv = await bus.openKv("raw", { ttlMs: 0 });
    const value = new TextEncoder().encode(JSON.stringify({ devices: { d: { state: "online" } } }));
    const op = async (i: number) => {
      const key = `u${i % options.keys}`;
      const entry = await kv.get(key);
      if (entry === undefined) await kv.create(key, value);
      else await kv.update(key, value, entry.revision);
    };
    await runClosedLoop(op, { concurrency: options.concurrency, durationMs: 300 });
    const throughput = await runClosedLoop(op, options);
    const sequential = await runClosedLoop(op, {
      concurrency: 1,
      durationMs: Math.max(500, options.durationMs / 4),
    });
    return {
      casPerSec: Math.round(throughput.perSec),
      casP50Ms: Math.round(sequential.latencyMs.p50 * 100) / 100,
      concurrency: options.concurrency,
    };
  } finally {
    await bus.close();
  }
}
