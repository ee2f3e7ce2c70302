import { describe, expect, it } from "vitest";
import { deferred } from "../../test/support/deferred.js";
import { createLookupCache } from "./lookup-cache.js";

/** A cache on a hand-moved clock, and a loader that counts what it was asked. */
function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let now = 1_000;
  const cache = createLookupCache<string>({
    ttlMs: options.ttlMs ?? 100,
    maxEntries: options.maxEntries ?? 10,
    clock: () => now,
  });
  const asked: string[][] = [];
  const load = async (missing: string[]) => {
    asked.push(missing);
    return new Map(missing.filter((k) => !k.startsWith("absent")).map((k) => [k, `v-${k}`]));
  };
  return { cache, asked, load, advance: (ms: number) => (now += ms) };
}

describe("lookup cache", () => {
  it("serves a loaded key until its TTL, then asks again; absent keys are always asked", async () => {
    const { cache, asked, load, advance } = setup();
    expect(await cache.getMany(["a", "absent"], load)).toEqual(new Map([["a", "v-a"]]));
    expect(await cache.getMany(["a", "absent"], load)).toEqual(new Map([["a", "v-a"]]));
    advance(99);
    await cache.getMany(["a"], load);
    expect(asked).toEqual([["a", "absent"], ["absent"]]);
    advance(1);
    await cache.getMany(["a"], load);
    expect(asked.at(-1)).toEqual(["a"]);
  });

  it("asks again for an invalidated key", async () => {
    const { cache, asked, load } = setup();
    await cache.getMany(["a", "b"], load);
    cache.invalidate(["a"]);
    await cache.getMany(["a", "b"], load);
    expect(asked).toEqual([["a", "b"], ["a"]]);
  });

  it("does not keep an answer read before an invalidation that arrived while it was loading", async () => {
    const { cache, asked, load } = setup();
    const gate = deferred();
    const stale = cache.getMany(["a", "b"], async (missing) => {
      await gate.promise;
      return new Map(missing.map((k) => [k, "stale"]));
    });
    cache.invalidate(["a"]);
    gate.resolve();
    // The caller that started before the change still gets what it read...
    expect(await stale).toEqual(
      new Map([
        ["a", "stale"],
        ["b", "stale"],
      ]),
    );
    // ...but the cache kept only the key nobody invalidated.
    expect(await cache.getMany(["a", "b"], load)).toEqual(
      new Map([
        ["a", "v-a"],
        ["b", "stale"],
      ]),
    );
    expect(asked).toEqual([["a"]]);
  });

  it("drops every key of a prefix, and does not keep such a key's answer loaded meanwhile", async () => {
    const { cache, asked, load } = setup();
    await cache.getMany(["g1/a", "g1/b", "g2/a"], load);
    const gate = deferred();
    const stale = cache.getMany(["g1/c"], async () => {
      await gate.promise;
      return new Map([["g1/c", "stale"]]);
    });
    cache.invalidatePrefix("g1/");
    gate.resolve();
    await stale;
    await cache.getMany(["g1/a", "g1/b", "g1/c", "g2/a"], load);
    expect(asked.at(-1)).toEqual(["g1/a", "g1/b", "g1/c"]);
  });

  it("does not keep answers of loads under way when cleared, nor anything while disabled", async () => {
    const { cache, asked, load } = setup();
    const gate = deferred();
    const stale = cache.getMany(["a"], async () => {
      await gate.promise;
      return new Map([["a", "stale"]]);
    });
    cache.clear();
    gate.resolve();
    await stale;
    expect(await cache.getMany(["a"], load)).toEqual(new Map([["a", "v-a"]]));
    cache.setEnabled(false);
    expect(cache.size()).toBe(0);
    await cache.getMany(["a"], load);
    await cache.getMany(["a"], load);
    expect(asked).toEqual([["a"], ["a"], ["a"]]);
    cache.setEnabled(true);
    await cache.getMany(["a"], load);
    await cache.getMany(["a"], load);
    expect(asked).toHaveLength(4);
  });

  it("keeps at most maxEntries, dropping the oldest; a TTL of 0 caches nothing", async () => {
    const { cache, asked, load } = setup({ maxEntries: 2 });
    await cache.getMany(["a", "b", "c"], load);
    expect(cache.size()).toBe(2);
    await cache.getMany(["b", "c", "a"], load);
    expect(asked.at(-1)).toEqual(["a"]);

    const off = setup({ ttlMs: 0 });
    await off.cache.getMany(["a"], off.load);
    await off.cache.getMany(["a"], off.load);
    expect(off.asked).toEqual([["a"], ["a"]]);
    off.cache.setEnabled(true);
    await off.cache.getMany(["a"], off.load);
    expect(off.asked).toHaveLength(3);
  });
});
