import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createTurnWrites } from "./turn-writes.js";

describe("turn writes", () => {
  it("issues the writes of a turn together at its end, in order, from every continuation", async () => {
    const done: string[] = [];
    const writes = createTurnWrites(() => {});
    writes.defer(() => done.push("a"));
    await Promise.resolve();
    writes.defer(() => done.push("b"));
    queueMicrotask(() => writes.defer(() => done.push("c")));
    await Promise.resolve();
    expect(done).toEqual([]);
    await nextTurn();
    expect(done).toEqual(["a", "b", "c"]);
  });

  it("issues a deferLast write after every write of its turn, also those deferred after it", async () => {
    const done: string[] = [];
    const writes = createTurnWrites(() => {});
    writes.defer(() => done.push("a"));
    writes.deferLast(() => done.push("ping"));
    writes.defer(() => done.push("b"));
    await nextTurn();
    writes.defer(() => done.push("c"));
    await nextTurn();
    expect(done).toEqual(["a", "b", "ping", "c"]);
  });

  it("flush issues them at once, and a write that throws stops none of the others", async () => {
    const done: string[] = [];
    const errors: unknown[] = [];
    const own: unknown[] = [];
    const writes = createTurnWrites((err) => errors.push(err));
    writes.defer(() => done.push("a"));
    writes.defer(() => {
      throw new Error("boom");
    });
    writes.defer(
      () => {
        throw new Error("mine");
      },
      (err) => own.push(err),
    );
    writes.defer(() => done.push("d"));
    writes.flush();
    expect(done).toEqual(["a", "d"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["boom"]);
    expect(own.map((e) => (e as Error).message)).toEqual(["mine"]);
    // Nothing is left for the turn's end, and later writes get a turn of their own.
    await nextTurn();
    expect(done).toEqual(["a", "d"]);
    writes.defer(() => done.push("e"));
    await nextTurn();
    expect(done).toEqual(["a", "d", "e"]);
  });

  it("holds lazy writes for the next turn that writes, or until their timer fires", async () => {
    const done: string[] = [];
    const armed: { run: () => void; ms: number; cleared: boolean }[] = [];
    const writes = createTurnWrites(() => {}, {
      lazyMs: 20,
      timers: {
        set(run, ms) {
          const t = { run, ms, cleared: false };
          armed.push(t);
          return t;
        },
        clear(handle) {
          (handle as { cleared: boolean }).cleared = true;
        },
      },
    });
    // Alone, a lazy write waits past the turn's end, on one timer for all of them.
    writes.deferLazy(() => done.push("ack1"));
    writes.deferLazy(() => done.push("ack2"));
    await nextTurn();
    expect(done).toEqual([]);
    expect(armed.map((t) => t.ms)).toEqual([20]);
    // A turn that writes takes them along, in order, and disarms the timer.
    writes.defer(() => done.push("publish"));
    await nextTurn();
    expect(done).toEqual(["ack1", "ack2", "publish"]);
    expect(armed[0]?.cleared).toBe(true);
    // Deferred in a turn that writes anyway: no timer.
    writes.defer(() => done.push("publish2"));
    writes.deferLazy(() => done.push("ack3"));
    await nextTurn();
    expect(done.slice(3)).toEqual(["publish2", "ack3"]);
    expect(armed).toHaveLength(1);
    // With no company, the timer issues it.
    writes.deferLazy(() => done.push("ack4"));
    expect(armed).toHaveLength(2);
    armed[1]?.run();
    expect(done.slice(5)).toEqual(["ack4"]);
  });
});
