import { describe, expect, it } from "vitest";
import { createKeyedMutex } from "./keyed-mutex.js";

/** Runs three works on one key; records how many ran at once at most. */
async function maxConcurrent(mutex: ReturnType<typeof createKeyedMutex>): Promise<number> {
  let running = 0;
  let max = 0;
  const releases: (() => void)[] = [];
  const work = () =>
    mutex("k", async () => {
      running++;
      max = Math.max(max, running);
      await new Promise<void>((r) => releases.push(r));
      running--;
    });
  const all = Promise.all([work(), work(), work()]);
  // Let every work that may start do so, then release them one by one.
  for (let i = 0; i < 3; i++) {
    while (releases.length === 0) await Promise.resolve();
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    releases.shift()?.();
  }
  await all;
  return max;
}

describe("keyed mutex", () => {
  it("serialises work per key where updates are not atomic (FerretDB)", async () => {
    expect(await maxConcurrent(createKeyedMutex({ atomicUpdates: false }))).toBe(1);
  });

  it("runs work at once where updates are atomic (MongoDB): no per-process queue", async () => {
    expect(await maxConcurrent(createKeyedMutex({ atomicUpdates: true }))).toBe(3);
  });
});
