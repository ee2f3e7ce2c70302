import { describe, expect, it } from "vitest";
import { createLimiter } from "./limiter.js";

describe("limiter", () => {
  it("gives n slots at once only when n are free, in arrival order", async () => {
    const limiter = createLimiter(3);
    const got: string[] = [];
    await limiter.acquire(2);
    const three = limiter.acquire(3).then(() => got.push("three"));
    // Fits, but arrived after "three": waits behind it.
    const one = limiter.acquire(1).then(() => got.push("one"));
    await Promise.resolve();
    expect(got).toEqual([]);
    limiter.release();
    await Promise.resolve();
    expect(got).toEqual([]);
    limiter.release();
    await three;
    expect(got).toEqual(["three"]);
    limiter.release();
    await one;
    expect(got).toEqual(["three", "one"]);
  });

  it("refuses more slots than it has", async () => {
    expect(() => createLimiter(2).acquire(3)).toThrow(RangeError);
  });
});
