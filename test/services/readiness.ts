import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";

/** One attempt: resolves if a MongoDB server at `url` answers ping. */
export async function pingMongo(url: string, timeoutMs = 2_000): Promise<void> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
  });
  try {
    await client.db("admin").command({ ping: 1 });
  } finally {
    await client.close();
  }
}

/** One attempt: resolves if a NATS server at `url` accepts us and has JetStream enabled. */
export async function pingNats(url: string, timeoutMs = 2_000): Promise<void> {
  const nc = await connect({ servers: url, reconnect: false, timeout: timeoutMs });
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}

/** One attempt: resolves if JetStream at `url` can place a stream with `replicas` copies. */
export async function placeReplicatedStream(
  url: string,
  replicas: number,
  timeoutMs = 2_000,
): Promise<void> {
  const nc = await connect({ servers: url.split(","), reconnect: false, timeout: timeoutMs });
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const name = `im-test-placement-${process.pid}-${Date.now().toString(36)}`;
    await jsm.streams.add({ name, subjects: [`${name}.x`], num_replicas: replicas });
    await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

export interface WaitOptions {
  /** What we wait for, for the error message. */
  what: string;
  timeoutMs?: number;
  /** Returns a reason to give up early (e.g. the process exited), or undefined to keep going. */
  giveUp?: () => string | undefined;
}

/** Retries `probe` until it resolves; throws with the last probe error on timeout or give-up. */
export async function waitUntil(probe: () => Promise<void>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    const reason = options.giveUp?.();
    if (reason) throw new Error(`${options.what}: ${reason}`);
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${options.what}: not answering after ${options.timeoutMs ?? 60_000} ms`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
