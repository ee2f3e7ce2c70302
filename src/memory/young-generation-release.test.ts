import { describe, expect, it } from "vitest";
import { eventually } from "../../test/support/eventually.js";
import { silentLogger } from "../log/logger.js";
import { exposeGc } from "./expose-gc.js";
import type { HeapReading } from "./young-generation-policy.js";
import { createYoungGenerationRelease } from "./young-generation-release.js";

const MB = 1024 * 1024;

describe("young-generation release", () => {
  it("runs one memory-reducing collection once the grown new space is quiet, then none while it stays", async () => {
    // A burst (the loop busy), then an idle loop; V8 shrinks new space at the
    // collection asked for.
    const script: HeapReading[] = [
      { newSpaceCommitted: MB, utilization: 0, atMs: 0 },
      { newSpaceCommitted: 64 * MB, utilization: 1, atMs: 1 },
    ];
    let committed = 64 * MB;
    let readings = 0;
    const calls: unknown[] = [];
    const worker = createYoungGenerationRelease({
      intervalMs: 1,
      quietMs: 2,
      logger: silentLogger,
      gc: (options) => {
        calls.push(options);
        committed = MB;
      },
      read: () => {
        readings++;
        return script.shift() ?? { newSpaceCommitted: committed, utilization: 0, atMs: readings };
      },
    });
    worker.start();
    try {
      await eventually(async () =>
        expect(calls).toEqual([{ type: "major", flavor: "last-resort" }]),
      );
      // Many more quiet readings at the released size: no further collection.
      const from = readings;
      await eventually(async () => expect(readings).toBeGreaterThan(from + 20));
      expect(calls).toHaveLength(1);
    } finally {
      await worker.stop();
    }
  });

  it("gets V8's gc without --expose-gc and without leaving a global gc", () => {
    const hadGlobal = typeof (globalThis as { gc?: unknown }).gc === "function";
    const gc = exposeGc();
    expect(typeof gc).toBe("function");
    gc?.({ type: "minor" });
    expect(typeof (globalThis as { gc?: unknown }).gc === "function").toBe(hadGlobal);
  });
});
