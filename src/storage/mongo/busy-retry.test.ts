import { type Db, MongoBulkWriteError, MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { retryBusy, retryingBusyCommands } from "./busy-retry.js";

const busy = () =>
  new MongoServerError({ message: "database is locked (5) (SQLITE_BUSY)", code: 1 });

describe("busy retry", () => {
  it("runs a single command again when FerretDB refused it for a locked database", async () => {
    let calls = 0;
    const result = await retryBusy(async () => {
      if (++calls < 3) throw busy();
      return "done";
    });
    expect([result, calls]).toEqual(["done", 3]);
  });

  it("gives up after a few tries, and never retries other errors or a bulk write", async () => {
    const countCalls = async (err: Error) => {
      let calls = 0;
      await expect(
        retryBusy(async () => {
          calls++;
          throw err;
        }),
      ).rejects.toBe(err);
      return calls;
    };
    expect(await countCalls(busy())).toBe(5);
    expect(await countCalls(new MongoServerError({ message: "bad update", code: 9 }))).toBe(1);
    // Part of a bulk write may have applied: running it again would repeat that part.
    const bulk = new MongoBulkWriteError(
      { message: "database is locked (SQLITE_BUSY)", code: 1, writeErrors: [] },
      { insertedCount: 1 } as never,
    );
    expect(await countCalls(bulk)).toBe(1);
  });

  it("retries each command of an operation on its own: the write that applied is not repeated", async () => {
    const applied: string[] = [];
    let refusals = 1;
    const fake = {
      collection: () => ({
        insertOne: async (doc: { id: string }) => {
          applied.push(`insert ${doc.id}`);
        },
        updateOne: async () => {
          if (refusals-- > 0) throw busy();
          applied.push("update");
        },
      }),
    } as unknown as Db;
    const col = retryingBusyCommands(fake).collection("c");
    await col.insertOne({ id: "a" });
    await col.updateOne({}, {});
    expect(applied).toEqual(["insert a", "update"]);
  });
});
