import { beforeEach, describe, expect, it } from "vitest";
import type { GroupRead, ReceiptStore } from "../../src/receipts/store.js";

const read = (messageKey: string, userId: string): GroupRead => ({
  groupId: messageKey.slice(0, messageKey.lastIndexOf(":")),
  messageKey,
  userId,
  timeMs: 1000,
  expireAtMs: 10_000_000_000_000,
});

/** What every ReceiptStore backend must do. `makeStore` returns an empty store. */
export function describeReceiptStoreContract(makeStore: () => Promise<ReceiptStore>): void {
  describe("ReceiptStore", () => {
    let store: ReceiptStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("raises a delivered seq, never lowers it, per owner and conversation", async () => {
      const c = "c2c:alice:bob";
      expect(await store.selectDeliveredSeq("bob", c)).toBe(0);
      expect(await store.raiseDeliveredSeq("bob", c, 3)).toEqual({ before: 0, after: 3 });
      expect(await store.raiseDeliveredSeq("bob", c, 2)).toEqual({ before: 3, after: 3 });
      expect(await store.raiseDeliveredSeq("bob", c, 7)).toEqual({ before: 3, after: 7 });
      expect(await store.selectDeliveredSeq("bob", c)).toBe(7);
      expect(await store.selectDeliveredSeq("alice", c)).toBe(0);
      expect(await store.selectDeliveredSeq("bob", "c2c:bob:carol")).toBe(0);
    });

    it("records each member's read of a message once, in one batch or many", async () => {
      const m1 = "g|with:odd ids:1";
      const m2 = "g|with:odd ids:2";
      expect(await store.insertGroupReads([])).toBe(0);
      expect(await store.insertGroupReads([read(m1, "u2"), read(m1, "u1"), read(m2, "u1")])).toBe(
        3,
      );
      // Repeats (also within one batch) and overlaps add only what is new.
      expect(await store.insertGroupReads([read(m1, "u1"), read(m1, "u3"), read(m1, "u3")])).toBe(
        1,
      );
      expect(await store.countGroupReads(m1)).toBe(3);
      expect(await store.countGroupReads(m2)).toBe(1);
      expect(await store.countGroupReads("g:3")).toBe(0);
    });

    it("pages a message's readers by user id and tells which of some users read it", async () => {
      const m = "g:1";
      const users = Array.from({ length: 25 }, (_, i) => `u${String(i).padStart(2, "0")}`);
      await store.insertGroupReads(users.filter((_, i) => i % 2 === 0).map((u) => read(m, u)));
      await store.insertGroupReads([read("g:2", "u01")]);
      const first = await store.selectGroupReaders(m, "", 5);
      expect(first).toEqual(["u00", "u02", "u04", "u06", "u08"]);
      expect(await store.selectGroupReaders(m, "u08", 100)).toEqual([
        "u10",
        "u12",
        "u14",
        "u16",
        "u18",
        "u20",
        "u22",
        "u24",
      ]);
      expect(await store.selectGroupReaders(m, "u24", 5)).toEqual([]);
      expect(
        [...(await store.selectGroupReadersAmong(m, ["u00", "u01", "u02", "zz"]))].sort(),
      ).toEqual(["u00", "u02"]);
      expect(await store.selectGroupReadersAmong(m, [])).toEqual(new Set());
    });

    it("deletes a group's reads and nothing else", async () => {
      await store.insertGroupReads([
        read("g:1", "u1"),
        read("g:2", "u1"),
        read("h:1", "u1"),
        // Group "g:x" (custom ids may hold ":"): its keys start like g's.
        read("g:x:1", "u1"),
      ]);
      await store.deleteGroupReads("g");
      expect(await store.countGroupReads("g:1")).toBe(0);
      expect(await store.countGroupReads("g:2")).toBe(0);
      expect(await store.countGroupReads("h:1")).toBe(1);
      expect(await store.countGroupReads("g:x:1")).toBe(1);
      // Read again after the delete: recorded afresh.
      expect(await store.insertGroupReads([read("g:1", "u1")])).toBe(1);
    });
  });
}
