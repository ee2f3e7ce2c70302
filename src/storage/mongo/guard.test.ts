import { MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { guard } from "./guard.js";

const busy = () =>
  new MongoServerError({ message: "database is locked (5) (SQLITE_BUSY)", code: 1 });

describe("guard", () => {
  it("runs again an operation FerretDB refused for a locked SQLite database", async () => {
    let calls = 0;
    const result = await guard(async () => {
      if (++calls < 3) throw busy();
      return "done";
    });
    expect([result, calls]).toEqual(["done", 3]);
  });

  it("gives up after a few tries, and never retries other server errors", async () => {
    let calls = 0;
    await expect(
      guard(async () => {
        calls++;
        throw busy();
      }),
    ).rejects.toThrow(/SQLITE_BUSY/);
    expect(calls).toBe(5);
    calls = 0;
    await expect(
      guard(async () => {
        calls++;
        throw new MongoServerError({ message: "bad update", code: 9 });
      }),
    ).rejects.toThrow(/bad update/);
    expect(calls).toBe(1);
  });
});
