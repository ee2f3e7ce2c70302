import { MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { guard } from "./guard.js";

describe("guard", () => {
  it("runs an operation once: a busy refusal is retried per command, not here", async () => {
    let calls = 0;
    await expect(
      guard(async () => {
        calls++;
        throw new MongoServerError({ message: "database is locked (5) (SQLITE_BUSY)", code: 1 });
      }),
    ).rejects.toThrow(/SQLITE_BUSY/);
    expect(calls).toBe(1);
  });
});
