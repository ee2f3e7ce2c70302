import { afterAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/bus/bus.js";
import { createMemoryBus } from "../../src/bus/memory-bus.js";
import { createMemoryHub } from "../../src/bus/memory-hub.js";
import { openNatsBus } from "../../src/bus/nats-bus.js";
import { silentLogger } from "../../src/log/logger.js";
import { testNatsUrl, uniqueName } from "../services/index.js";
import { eventually } from "../support/eventually.js";

// The KV port (src/bus/kv.ts), one suite for both adapters. `elapse(ms)` lets time pass
// for the TTL case: the memory bus's injected clock jumps; NATS is waited for.
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) =>
  b === undefined ? undefined : new TextDecoder().decode(b);

interface Backend {
  open(): Promise<{ a: Bus; b: Bus }>;
  elapse(ms: number): Promise<void>;
}

let now = 1_000_000;
const backends: Record<string, Backend> = {
  memory: {
    async open() {
      const hub = createMemoryHub();
      const mk = () =>
        createMemoryBus({ namespace: "kvtest", clock: () => now, logger: silentLogger, hub });
      return { a: mk(), b: mk() };
    },
    async elapse(ms) {
      now += ms;
    },
  },
  nats: {
    async open() {
      const namespace = uniqueName("kv");
      const mk = () => openNatsBus({ url: testNatsUrl(), namespace, logger: silentLogger });
      return { a: await mk(), b: await mk() };
    },
    // Waited for by the eventually() around the check.
    elapse: async () => {},
  },
};

for (const [name, backend] of Object.entries(backends)) {
  describe(`kv (${name})`, () => {
    const buses: Bus[] = [];
    afterAll(async () => {
      await Promise.all(buses.map((b) => b.close()));
    });
    const open = async () => {
      const { a, b } = await backend.open();
      buses.push(a, b);
      return { a, b };
    };

    it("put, get, create, update at a revision, delete and keys, seen by every process", async () => {
      const { a, b } = await open();
      const kvA = await a.openKv("things", { ttlMs: 0 });
      const kvB = await b.openKv("things", { ttlMs: 0 });
      expect(await kvA.get("x")).toBeUndefined();
      const r1 = await kvA.put("x", enc("1"));
      const got = await kvB.get("x");
      expect([dec(got?.value), got?.revision]).toEqual(["1", r1]);
      // create only when absent.
      expect(await kvB.create("x", enc("2"))).toBeUndefined();
      const r2 = await kvB.create("y.z", enc("yz"));
      expect(r2).toBeGreaterThan(r1);
      // update only at the current revision.
      expect(await kvA.update("x", enc("3"), r1 + 1000)).toBeUndefined();
      const r3 = await kvA.update("x", enc("3"), r1);
      expect(r3).toBeDefined();
      expect(await kvB.update("x", enc("4"), r1)).toBeUndefined();
      expect(dec((await kvB.get("x"))?.value)).toBe("3");
      await kvA.put("y.w", enc(""));
      await kvA.put("yy", enc(""));
      expect((await kvB.keys("y")).sort()).toEqual(["y.w", "y.z"]);
      expect((await kvB.keys()).sort()).toEqual(["x", "y.w", "y.z", "yy"]);
      await kvB.delete("x");
      expect(await kvA.get("x")).toBeUndefined();
      expect((await kvA.keys()).sort()).toEqual(["y.w", "y.z", "yy"]);
      // A deleted key can be created again.
      expect(await kvA.create("x", enc("5"))).toBeDefined();
      await kvA.delete("never-there");
      await expect(kvA.get("bad key")).rejects.toThrow(/invalid kv key/);
    });

    it("drops entries not written for the bucket's TTL; a write restarts it", async () => {
      const { a, b } = await open();
      const ttlMs = 1_000;
      const kvA = await a.openKv("leases", { ttlMs });
      const kvB = await b.openKv("leases", { ttlMs });
      await kvA.put("n1", enc("1"));
      await kvA.put("n2", enc("1"));
      await backend.elapse(ttlMs / 2);
      await kvA.put("n2", enc("2"));
      expect((await kvB.keys()).sort()).toEqual(["n1", "n2"]);
      await backend.elapse(ttlMs / 2);
      await eventually(async () => {
        expect(await kvB.get("n1")).toBeUndefined();
        expect(await kvB.keys()).not.toContain("n1");
      });
      // n2 was written again and may still be there (memory: exactly); once it lapses it goes too.
      if (name === "memory") expect(dec((await kvB.get("n2"))?.value)).toBe("2");
      await backend.elapse(ttlMs);
      await eventually(async () => expect(await kvB.get("n2")).toBeUndefined());
      // An expired key can be created again (the presence reaper relies on it).
      expect(await kvB.create("n1", enc("again"))).toBeDefined();
    });

    it("applies a changed TTL to an existing bucket (a new heartbeat timeout after a restart)", async () => {
      const { a, b } = await open();
      const long = await a.openKv("resized", { ttlMs: 3_600_000 });
      await long.put("k", enc("1"));
      const short = await b.openKv("resized", { ttlMs: 1_000 });
      await backend.elapse(1_000);
      await eventually(async () => expect(await short.get("k")).toBeUndefined());
    });
  });
}
