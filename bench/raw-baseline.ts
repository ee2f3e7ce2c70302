import { randomBytes } from "node:crypto";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";
import { type ClosedLoopResult, runClosedLoop } from "./closed-loop.js";

/**
 * The raw stack on this machine, measured in the same run as the server so the
 * server's figures can be read as ratios: what one JetStream publish (with a
 * dedup id, to a file-backed stream, as the outbox does), one document insert
 * and one counter increment (findOneAndUpdate $inc with upsert, as seq
 * allocation does) sustain with nothing of ours in between. The increment is
 * here because on FerretDB updates cost far more than inserts.
 */
export interface RawBaseline {
  /** Publishes acked per second with `concurrency` outstanding. */
  jetstreamPublishPerSec: number;
  /** One publish at a time: the floor of a publish's latency. */
  jetstreamPublishP50Ms: number;
  insertPerSec: number;
  insertP50Ms: number;
  counterIncPerSec: number;
  counterIncP50Ms: number;
  concurrency: number;
  payloadBytes: number;
}

export interface RawBaselineOptions {
  natsUrl: string;
  mongoUrl: string;
  durationMs: number;
  concurrency: number;
}

// Close to a stored one-to-one text message (fan-out event / message document).
const PAYLOAD_BYTES = 400;

export async function measureRawBaseline(options: RawBaselineOptions): Promise<RawBaseline> {
  const publish = await measureJetStreamPublish(options);
  const { insert, counterInc } = await measureDocumentOps(options);
  return {
    jetstreamPublishPerSec: publish.throughput.perSec,
    jetstreamPublishP50Ms: publish.sequential.latencyMs.p50,
    insertPerSec: insert.throughput.perSec,
    insertP50Ms: insert.sequential.latencyMs.p50,
    counterIncPerSec: counterInc.throughput.perSec,
    counterIncP50Ms: counterInc.sequential.latencyMs.p50,
    concurrency: options.concurrency,
    payloadBytes: PAYLOAD_BYTES,
  };
}

export interface Measured {
  throughput: ClosedLoopResult;
  sequential: ClosedLoopResult;
}

/** Throughput at the given concurrency, then latency one at a time (a quarter of the time). */
async function measure(
  op: (i: number) => Promise<unknown>,
  options: RawBaselineOptions,
): Promise<Measured> {
  // Warm connections and caches so the first ops' set-up is not measured.
  await runClosedLoop(op, { concurrency: options.concurrency, durationMs: 300 });
  const throughput = await runClosedLoop(op, options);
  const sequential = await runClosedLoop(op, {
    concurrency: 1,
    durationMs: Math.max(500, options.durationMs / 4),
  });
  return { throughput, sequential };
}

/**
 * JetStream publishes to a stream of `replicas` copies (on a cluster: the cost of
 * replication, R3 against R1 on the same servers).
 */
export async function measureJetStreamPublish(
  options: RawBaselineOptions,
  replicas = 1,
): Promise<Measured> {
  // NATS_URL form: a cluster is its servers, comma-separated.
  const nc = await connect({ servers: options.natsUrl.split(",") });
  const tag = randomBytes(4).toString("hex");
  const stream = `bench-raw-${tag}`;
  const subject = `bench.raw.${tag}`;
  try {
    const jsm = await jetstreamManager(nc);
    // The server's messages stream is file-backed with a 2-minute duplicate window: same here.
    await jsm.streams.add({
      name: stream,
      subjects: [subject],
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
      num_replicas: replicas,
    });
    const js = jsm.jetstream();
    const payload = randomBytes(PAYLOAD_BYTES);
    try {
      return await measure(
        (i) => js.publish(subject, payload, { msgID: `${tag}-${i}-${performance.now()}` }),
        options,
      );
    } finally {
      await jsm.streams.delete(stream).catch(() => undefined);
    }
  } finally {
    await nc.close();
  }
}

async function measureDocumentOps(
  options: RawBaselineOptions,
): Promise<{ insert: Measured; counterInc: Measured }> {
  const client = new MongoClient(options.mongoUrl);
  const dbName = `bench_raw_${randomBytes(4).toString("hex")}`;
  try {
    await client.connect();
    const db = client.db(dbName);
    const docs = db.collection<{ _id: string; at: number; body: string }>("docs");
    const counters = db.collection<{ _id: string; seq: number }>("counters");
    const body = randomBytes(PAYLOAD_BYTES / 2).toString("hex");
    let n = 0;
    try {
      // Unique string _ids, as message keys are; no secondary index (the floor).
      const insert = await measure(
        () => docs.insertOne({ _id: `d${n++}`, at: Date.now(), body }),
        options,
      );
      // Spread over 200 counters, as seqs are over conversations.
      const counterInc = await measure(
        (i) =>
          counters.findOneAndUpdate(
            { _id: `c${i % 200}` },
            { $inc: { seq: 1 } },
            { upsert: true, returnDocument: "after" },
          ),
        options,
      );
      return { insert, counterInc };
    } finally {
      await db.dropDatabase().catch(() => undefined);
    }
  } finally {
    await client.close();
  }
}
