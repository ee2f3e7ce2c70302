import { type Db, MongoClient, type W } from "mongodb";
import { retryingBusyCommands } from "./busy-retry.js";
import { detectCapabilities, type MongoCapabilities } from "./capabilities.js";
import {
  countCommands,
  observeCommands,
  type StoreCommandCounts,
  type StoreCommandObserver,
} from "./command-counter.js";

export interface MongoConnection {
  client: MongoClient;
  db: Db;
  /** What the server does atomically (FerretDB differs), found at connect. */
  capabilities: MongoCapabilities;
  /** Commands sent so far; only when connected with `monitorCommands`. */
  commandCounts: (() => StoreCommandCounts) | undefined;
  /** Whether the driver currently sees a data-bearing server (from its own monitoring). */
  isReachable(): boolean;
  /** Calls `listener` on every change of isReachable(); returns the unsubscribe function. */
  onReachabilityChange(listener: () => void): () => void;
}

export interface MongoConnectOptions {
  /** How long an operation waits for a usable server before failing (Unavailable). */
  serverSelectionTimeoutMs?: number;
  /** How often the driver probes the server; also how fast an idle outage is noticed. */
  heartbeatFrequencyMs?: number;
  /** Count the commands sent (driver command monitoring), for benchmarks. */
  monitorCommands?: boolean;
  /** Told of every command's outcome and duration (store latency metrics). */
  observeCommand?: StoreCommandObserver;
  /** Write concern of every write (default: majority, 10 s bound). */
  write?: MongoWriteOptions | undefined;
}

/**
 * How writes are acknowledged. A send is acked to its client only after its writes are,
 * so on a replica set "majority" is what keeps an acked message through a primary
 * failover (a write only the old primary had is rolled back). FerretDB accepts and
 * ignores it.
 */
export interface MongoWriteOptions {
  /** "majority" (default) or a number of members. */
  w: W;
  /** Bound on waiting for the write concern; the write may still have been applied. */
  wtimeoutMs: number;
}

export const defaultMongoWriteOptions: Readonly<MongoWriteOptions> = Object.freeze({
  w: "majority",
  wtimeoutMs: 10_000,
});

/**
 * Connects and pings once, so a wrong URL or a down server fails start-up with
 * a clear message instead of the first request. The short server-selection
 * timeout also makes requests fail fast (Unavailable) while the store is down.
 *
 * Monitoring polls (a plain hello every heartbeat) rather than streaming: the
 * streaming protocol keeps one awaitable hello open per server, and a store
 * that restarts on the same address (FerretDB does not implement awaitable
 * hello) could leave that check hanging, the server marked Unknown and every
 * operation failing server selection until the process restarted.
 */
export async function connectMongo(
  url: string,
  database: string,
  options: MongoConnectOptions = {},
): Promise<MongoConnection> {
  const countThem = options.monitorCommands ?? false;
  const monitorCommands = countThem || options.observeCommand !== undefined;
  const write = options.write ?? defaultMongoWriteOptions;
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 3000,
    connectTimeoutMS: 3000,
    monitorCommands,
    heartbeatFrequencyMS: options.heartbeatFrequencyMs ?? 2000,
    serverMonitoringMode: "poll",
    // These override the same options in the URL: the server's guarantees depend on them.
    writeConcern: { w: write.w, wtimeoutMS: write.wtimeoutMs },
    // A write interrupted by a failover is retried once on the new primary (the driver
    // uses it only where the server supports it: replica sets and sharded clusters).
    retryWrites: true,
    retryReads: true,
    // Sync right after a send must see the acked message: reads go to the primary,
    // which has every write it acknowledged (a secondary may lag).
    readPreference: "primary",
  });
  let reachable = true;
  const listeners = new Set<() => void>();
  client.on("topologyDescriptionChanged", (event) => {
    const now = event.newDescription.hasDataBearingServers;
    if (now === reachable) return;
    reachable = now;
    for (const listener of listeners) listener();
  });
  const commandCounts = countThem ? countCommands(client) : undefined;
  if (options.observeCommand !== undefined) observeCommands(client, options.observeCommand);
  try {
    await client.connect();
    const db = client.db(database);
    await db.command({ ping: 1 });
    reachable = true;
    const capabilities = await detectCapabilities(db);
    // Only FerretDB answers SQLITE_BUSY: on MongoDB every command of the send path
    // would pass through the retrying proxy (a closure and an extra await each) for nothing.
    if (capabilities.server === "ferretdb") retryingBusyCommands(db);
    return {
      client,
      db,
      capabilities,
      commandCounts,
      isReachable: () => reachable,
      onReachabilityChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(`cannot reach MongoDB at ${redact(url)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Hides the password in a connection string for logs and errors. */
export const redact = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
