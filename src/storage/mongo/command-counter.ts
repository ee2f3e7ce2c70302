import type { MongoClient } from "mongodb";

/** Commands the driver sent since connect (driver command monitoring). */
export interface StoreCommandCounts {
  total: number;
  /** insert, update, delete and findAndModify: the commands that write documents. */
  writes: number;
  byCommand: Record<string, number>;
  /** The same by command and collection, `"<command> <collection>"` (e.g. `"find accounts"`). */
  byTarget: Record<string, number>;
  /** Milliseconds from start to reply, summed by the same targets (what each costs the store, queueing included). */
  msByTarget: Record<string, number>;
}

const WRITE_COMMANDS = new Set(["insert", "update", "delete", "findAndModify"]);

/**
 * Counts every command the client starts (`monitorCommands: true` must be set
 * on the client). Only the count is kept, never the command, so it is cheap
 * enough for a benchmark run.
 */
export function countCommands(client: MongoClient): () => StoreCommandCounts {
  const byCommand: Record<string, number> = {};
  const byTarget: Record<string, number> = {};
  const msByTarget: Record<string, number> = {};
  /** Target of each command in flight, by request id, until its reply. */
  const pending = new Map<number, string>();
  let total = 0;
  let writes = 0;
  client.on("commandStarted", (event) => {
    total++;
    if (WRITE_COMMANDS.has(event.commandName)) writes++;
    byCommand[event.commandName] = (byCommand[event.commandName] ?? 0) + 1;
    // A collection command names its collection as the command's value.
    const on: unknown = event.command[event.commandName];
    const target = typeof on === "string" ? `${event.commandName} ${on}` : event.commandName;
    byTarget[target] = (byTarget[target] ?? 0) + 1;
    pending.set(event.requestId, target);
  });
  const finished = (event: { requestId: number; duration: number }) => {
    const target = pending.get(event.requestId);
    if (target === undefined) return;
    pending.delete(event.requestId);
    msByTarget[target] = (msByTarget[target] ?? 0) + event.duration;
  };
  client.on("commandSucceeded", finished);
  client.on("commandFailed", finished);
  return () => ({
    total,
    writes,
    byCommand: { ...byCommand },
    byTarget: { ...byTarget },
    msByTarget: { ...msByTarget },
  });
}

/** Receives each command's duration (driver command monitoring), e.g. for a latency histogram. */
export type StoreCommandObserver = (command: string, ok: boolean, seconds: number) => void;

/** Reports every finished command's duration; `monitorCommands: true` must be set on the client. */
export function observeCommands(client: MongoClient, observe: StoreCommandObserver): void {
  client.on("commandSucceeded", (e) => observe(e.commandName, true, e.duration / 1000));
  client.on("commandFailed", (e) => observe(e.commandName, false, e.duration / 1000));
}
