import { describe, expect, it } from "vitest";
import { createYoungGenerationPolicy } from "./young-generation-policy.js";

const MB = 1024 * 1024;
const GAP_MS = 60_000;
const policy = () =>
  createYoungGenerationPolicy({ quietReadingsNeeded: 2, quietUtilizationMax: 0.1, gapMs: GAP_MS });

/** Readings 5 s apart from `fromMs`: [new space MB, event-loop utilization]. */
const decide = (p: ReturnType<typeof policy>, readings: [number, number][], fromMs = 0) =>
  readings.map(([mb, utilization], i) =>
    p.shouldRelease({ newSpaceCommitted: mb * MB, utilization, atMs: fromMs + i * 5000 }),
  );

describe("young-generation policy", () => {
  it("asks for one collection once a grown new space has been quiet for enough readings", () => {
    // Small at start-up, grown by a burst (the loop busy), then idle.
    const readings: [number, number][] = [
      [1, 0.02],
      [64, 0.9],
      [64, 0.03],
      [64, 0.05],
    ];
    expect(decide(policy(), readings)).toEqual([false, false, false, true]);
  });

  it("never asks while new space is at the smallest size seen", () => {
    const readings: [number, number][] = [
      [1, 0.02],
      [1, 0.01],
      [1, 0.01],
      [1, 0.0],
    ];
    expect(decide(policy(), readings)).toEqual([false, false, false, false]);
  });

  it("does not ask while the loop is busy, however grown new space is", () => {
    const readings: [number, number][] = [
      [1, 0],
      [64, 0.5],
      [64, 0.05],
      [64, 0.8],
      [64, 0.05],
    ];
    expect(decide(policy(), readings)).toEqual([false, false, false, false, false]);
  });

  it("does not ask again when V8 kept the size, nor within the gap after a release", () => {
    const p = policy();
    decide(p, [
      [1, 0],
      [64, 0],
      [64, 0],
    ]);
    p.released(64 * MB); // the collection did not shrink new space
    expect(
      decide(
        p,
        [
          [64, 0],
          [64, 0],
          [64, 0],
        ],
        15_000,
      ),
    ).toEqual([false, false, false]);
    // V8 shrank it at a collection of its own, then a new burst grew it: within the gap, no.
    expect(
      decide(
        p,
        [
          [2, 0],
          [64, 0.9],
          [64, 0],
          [64, 0],
        ],
        30_000,
      ),
    ).toEqual([false, false, false, false]);
    // Past the gap, yes.
    expect(
      decide(
        p,
        [
          [64, 0],
          [64, 0],
        ],
        10 + GAP_MS,
      ),
    ).toEqual([false, true]);
  });
});
