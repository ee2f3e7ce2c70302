import { describe, expect, it } from "vitest";
import { createGroupCommit } from "./group-commit.js";

/** A write the test settles by hand, recording each batch. */
function controlledWrite() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const write = (items: readonly number[]) => {
    batches.push([...items]);
    return new Promise<number[]>((resolve) => {
      pending.push(() => resolve(items.map((i) => i * 10)));
    });
  };
  const settleNext = async () => {
    for (let i = 0; i < 20 && pending.length === 0; i++) await Promise.resolve();
    pending.shift()?.();
  };
  return { batches, write, settleNext };
}

describe("group commit", () => {
  it("writes a lone item at once and gathers the items arriving meanwhile into the next batch", async () => {
    const w = controlledWrite();
    const commit = createGroupCommit({ maxBatch: 3, write: w.write });
    const first = commit.submit(1);
    await Promise.resolve();
    const more = [2, 3, 4, 5].map((i) => commit.submit(i));
    await w.settleNext();
    expect(await first).toBe(10);
    await w.settleNext();
    await w.settleNext();
    expect(await Promise.all(more)).toEqual([20, 30, 40, 50]);
    // Capped at 3; nothing waits for a timer.
    expect(w.batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it("leaves out dropped items before the write and fails only the batch that threw", async () => {
    let fail = true;
    const batches: number[][] = [];
    const commit = createGroupCommit<number, number>({
      maxBatch: 10,
      drop: (i) => (i < 0 ? new Error(`dropped ${i}`) : undefined),
      async write(items) {
        batches.push([...items]);
        if (fail) {
          fail = false;
          throw new Error("batch failed");
        }
        return items.map((i) => i + 1);
      },
    });
    const a = commit.submit(1);
    const dropped = commit.submit(-1);
    await expect(a).rejects.toThrow("batch failed");
    await expect(dropped).rejects.toThrow("dropped -1");
    expect(await commit.submit(2)).toBe(3);
    expect(batches).toEqual([[1], [2]]);
    await commit.drain();
  });
});
