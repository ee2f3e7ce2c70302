import type { MongoClient } from "mongodb";

/** Commands the driver sent since connect (driver command monitoring). */
export interface StoreCommandCounts {
  total: number;
  /** insert, update, delete and findAndModify: the commands that write documents. */
  writes: number;
  byCommand: Record<string, number>;
}

const WRITE_COMMANDS = new Set(["insert", "update", "delete", "findAndModify"]);

/**
 * Counts every command the client starts (`monitorCommands: true` must be set
 * on the client). Only the count is kept, never the command, so it is cheap
 * enough for a benchmark run.
 */
export function countCommands(client: MongoClient): () => StoreCommandCounts {
  const byCommand: Record<string, number> = {};
  let total = 0;
  let writes = 0;
  client.on("commandStarted", (event) => {
    total++;
    if (WRITE_COMMANDS.has(event.commandName)) writes++;
    byCommand[event.commandName] = (byCommand[event.commandName] ?? 0) + 1;
  });
  return () => ({ total, writes, byCommand: { ...byCommand } });
}

/** Receives each command's duration (driver command monitoring), e.g. for a latency histogram. */
export type StoreCommandObserver = (command: string, ok: boolean, seconds: number) => void;

/** Reports every finished command's duration; `monitorCommands: true` must be set on the client. */
export function observeCommands(client: MongoClient, observe: StoreCommandObserver): void {
  client.on("commandSucceeded", (e) => observe(e.commandName, true, e.duration / 1000));
  client.on("commandFailed", (e) => observe(e.commandName, false, e.duration / 1000));
}
