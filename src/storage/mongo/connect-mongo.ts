import { type Db, MongoClient } from "mongodb";
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
}

/**
 * Connects and pings once, so a wrong URL or a down server fails start-up with
 * a clear message instead of the first request. The short server-selection
 * timeout also makes requests fail fast (Unavailable) while the store is down.
 */
export async function connectMongo(
  url: string,
  database: string,
  options: {
    serverSelectionTimeoutMs?: number;
    monitorCommands?: boolean;
    observeCommand?: StoreCommandObserver;
  } = {},
): Promise<MongoConnection> {
  const countThem = options.monitorCommands ?? false;
  const monitorCommands = countThem || options.observeCommand !== undefined;
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 3000,
    connectTimeoutMS: 3000,
    monitorCommands,
  });
  const commandCounts = countThem ? countCommands(client) : undefined;
  if (options.observeCommand !== undefined) observeCommands(client, options.observeCommand);
  try {
    await client.connect();
    const db = client.db(database);
    await db.command({ ping: 1 });
    return { client, db, capabilities: await detectCapabilities(db), commandCounts };
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(`cannot reach MongoDB at ${redact(url)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Hides the password in a connection string for logs and errors. */
export const redact = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
