import { beforeEach, describe, expect, it } from "vitest";
import type { BroadcastStore } from "../../src/push/broadcast-store.js";
import type { Storage } from "../../src/storage/storage.js";

/** What every BroadcastStore backend must do. `makeStorage` returns an empty storage. */
export function describeBroadcastStoreContract(makeStorage: () => Promise<Storage>): void {
  describe("BroadcastStore", () => {
    let storage: Storage;
    let store: BroadcastStore;
    beforeEach(async () => {
      storage = await makeStorage();
      store = storage.broadcasts;
    });
    const label = async (userId: string, tags: string[], attributes: Record<string, string>) => {
      const version = (await store.selectUserLabels([userId])).get(userId)?.version ?? 0;
      expect(await store.replaceUserLabels(userId, version, { tags, attributes })).toBe(true);
    };

    it("replaces labels only at the version read (compare-and-set)", async () => {
      expect(await store.replaceUserLabels("u1", 0, { tags: ["a"], attributes: {} })).toBe(true);
      // A second first-write and a stale version both lose.
      expect(await store.replaceUserLabels("u1", 0, { tags: ["b"], attributes: {} })).toBe(false);
      expect(
        await store.replaceUserLabels("u1", 1, { tags: ["a", "c"], attributes: { k: "v" } }),
      ).toBe(true);
      expect(await store.replaceUserLabels("u1", 1, { tags: [], attributes: {} })).toBe(false);
      expect(await store.selectUserLabels(["u1", "nobody"])).toEqual(
        new Map([["u1", { tags: ["a", "c"], attributes: { k: "v" }, version: 2 }]]),
      );
    });

    it("bulk-inserts labels only for users that have none", async () => {
      await label("u1", ["old"], {});
      const stored = await store.insertUserLabels([
        { userId: "u1", labels: { tags: ["new"], attributes: {} } },
        { userId: "u2", labels: { tags: ["new"], attributes: { k: "v" } } },
      ]);
      expect(stored).toEqual(new Set(["u2"]));
      expect(await store.selectUserLabels(["u1", "u2"])).toEqual(
        new Map([
          ["u1", { tags: ["old"], attributes: {}, version: 1 }],
          ["u2", { tags: ["new"], attributes: { k: "v" }, version: 1 }],
        ]),
      );
      expect(await store.insertUserLabels([])).toEqual(new Set());
      // A bulk-inserted user is then changed by compare-and-set like any other.
      expect(await store.replaceUserLabels("u2", 1, { tags: [], attributes: {} })).toBe(true);
    });

    it("pages the audience in id order: any tag, all tags, attributes, every account", async () => {
      await label("u1", ["vip", "beta"], { city: "Paris", plan: "gold" });
      await label("u2", ["vip"], { city: "Oslo" });
      await label("u3", ["beta"], { city: "Paris" });
      await label("u4", [], {});
      await storage.accounts.upsertAccounts(
        ["u1", "u2", "u5"].map((userId) => ({ userId, nickname: "", faceUrl: "" })),
        1,
      );
      const page = (f: Parameters<BroadcastStore["selectAudiencePage"]>[0], after = "", n = 10) =>
        store.selectAudiencePage(f, after, n);
      expect(await page({ kind: "tags", tags: ["vip", "beta"], matchAll: false })).toEqual([
        "u1",
        "u2",
        "u3",
      ]);
      expect(await page({ kind: "tags", tags: ["vip", "beta"], matchAll: true })).toEqual(["u1"]);
      expect(await page({ kind: "attributes", attributes: { city: "Paris" } })).toEqual([
        "u1",
        "u3",
      ]);
      expect(
        await page({ kind: "attributes", attributes: { city: "Paris", plan: "gold" } }),
      ).toEqual(["u1"]);
      expect(await page({ kind: "all" })).toEqual(["u1", "u2", "u5"]);
      // Paging: exclusive lower bound, limit.
      expect(await page({ kind: "tags", tags: ["vip", "beta"], matchAll: false }, "u1", 1)).toEqual(
        ["u2"],
      );
      expect(await page({ kind: "all" }, "u5")).toEqual([]);
    });

    it("records each batch of a task once, counts pushes, and cancels only a running task", async () => {
      const content = new Uint8Array([1, 2, 3]);
      await store.insertBroadcast({
        taskId: "t1",
        filter: { kind: "tags", tags: ["vip"], matchAll: false },
        content,
        createdAtMs: 5,
      });
      const t = await store.selectBroadcast("t1");
      expect(t).toEqual({
        taskId: "t1",
        filter: { kind: "tags", tags: ["vip"], matchAll: false },
        content,
        state: "running",
        cursor: "",
        counts: { targeted: 0, onlineDelivered: 0, pushed: 0, failed: 0 },
        createdAtMs: 5,
        finishedAtMs: 0,
      });
      const add = { targeted: 2, onlineDelivered: 1 };
      expect(await store.advanceBroadcast("t1", "", "u2", add, undefined)).toBe(true);
      // The same batch again (a redelivery) is not counted twice.
      expect(await store.advanceBroadcast("t1", "", "u2", add, undefined)).toBe(false);
      await store.addBroadcastPushCounts("t1", { pushed: 3, failed: 1 });
      expect(await store.advanceBroadcast("t1", "u2", "u3", add, 9)).toBe(true);
      const done = await store.selectBroadcast("t1");
      expect([done?.state, done?.cursor, done?.counts, done?.finishedAtMs]).toEqual([
        "done",
        "u3",
        { targeted: 4, onlineDelivered: 2, pushed: 3, failed: 1 },
        9,
      ]);
      // Cancelling a finished task changes nothing.
      expect((await store.cancelBroadcast("t1", 20))?.state).toBe("done");
      expect(await store.cancelBroadcast("nope", 20)).toBeUndefined();
      expect(await store.selectBroadcast("nope")).toBeUndefined();

      await store.insertBroadcast({
        taskId: "t2",
        filter: { kind: "all" },
        content,
        createdAtMs: 6,
      });
      const cancelled = await store.cancelBroadcast("t2", 30);
      expect([cancelled?.state, cancelled?.finishedAtMs]).toEqual(["cancelled", 30]);
      // A cancelled task takes no further batch.
      expect(await store.advanceBroadcast("t2", "", "u1", add, undefined)).toBe(false);
    });

    it("claims each delivery key once", async () => {
      expect(await store.claimDeliveries([], 1_000)).toEqual(new Set());
      expect(await store.claimDeliveries(["t/a", "t/b"], 1_000)).toEqual(new Set(["t/a", "t/b"]));
      expect(await store.claimDeliveries(["t/b", "t/c", "t/a", "t/d"], 1_000)).toEqual(
        new Set(["t/c", "t/d"]),
      );
      expect(await store.claimDeliveries(["t/a", "t/c"], 1_000)).toEqual(new Set());
      // Many at once (the Mongo adapter writes them in several bulk writes).
      const many = Array.from({ length: 250 }, (_, i) => `m/${i}`);
      expect((await store.claimDeliveries(many.slice(0, 240), 1_000)).size).toBe(240);
      expect(await store.claimDeliveries(many, 1_000)).toEqual(new Set(many.slice(240)));
      // Concurrent claims of one key: exactly one wins.
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => store.claimDeliveries(["t/race"], 1_000)),
      );
      expect(racing.filter((won) => won.has("t/race"))).toHaveLength(1);
    });

    it("forgets claims made before a time, and only those", async () => {
      await store.claimDeliveries(["old/a", "old/b"], 1_000);
      await store.claimDeliveries(["new/a"], 5_000);
      await store.deleteClaimsBefore(5_000);
      expect(await store.claimDeliveries(["old/a", "old/b", "new/a"], 6_000)).toEqual(
        new Set(["old/a", "old/b"]),
      );
    });
  });
}
