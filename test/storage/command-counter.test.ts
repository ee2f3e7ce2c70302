import { afterAll, describe, expect, it } from "vitest";
import { openMongoStorage, type Storage } from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";

describe("store command monitoring (MONGO_MONITOR_COMMANDS)", () => {
  const opened: Storage[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });

  it("counts the driver's commands and the writes among them", async () => {
    const storage = await openMongoStorage(testMongoUrl(), uniqueName("commands"), {
      monitorCommands: true,
    });
    opened.push(storage);
    const counts = storage.commandCounts;
    if (counts === undefined) throw new Error("monitoring was asked for");
    const before = counts();
    await storage.messages.claimDedupKey("k", 1000, 60_000);
    await storage.messages.selectLastSeq("c2c:a:b");
    const after = counts();
    expect(after.total - before.total).toBe(2);
    expect(after.writes - before.writes).toBe(1);
    expect((after.byCommand.insert ?? 0) - (before.byCommand.insert ?? 0)).toBe(1);
    expect((after.byCommand.find ?? 0) - (before.byCommand.find ?? 0)).toBe(1);
    // And by collection: the claim is an insert into the dedup keys, the seq read a find of the counters.
    const target = (name: string) => (after.byTarget[name] ?? 0) - (before.byTarget[name] ?? 0);
    expect(target("insert message_dedup")).toBe(1);
    expect(target("find conversation_seqs")).toBe(1);
    // Each command's time is summed by the same targets (the driver's durations are whole
    // milliseconds, so a fast command adds 0).
    for (const name of ["insert message_dedup", "find conversation_seqs"]) {
      expect(after.msByTarget[name]).toBeGreaterThanOrEqual(before.msByTarget[name] ?? 0);
    }
  });

  it("counts nothing unless asked", async () => {
    const storage = await openMongoStorage(testMongoUrl(), uniqueName("commands"));
    opened.push(storage);
    expect(storage.commandCounts).toBeUndefined();
  });
});
