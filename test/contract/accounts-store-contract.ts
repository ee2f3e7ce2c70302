import { beforeEach, describe, expect, it } from "vitest";
import type { AccountStore } from "../../src/accounts/store.js";

const account = (userId: string, nickname = "") => ({ userId, nickname, faceUrl: "" });

/** What every AccountStore backend must do. `makeStore` returns an empty store. */
export function describeAccountStoreContract(makeStore: () => Promise<AccountStore>): void {
  describe("AccountStore", () => {
    let store: AccountStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("creates missing accounts and updates existing ones, keeping createdAt", async () => {
      expect(await store.upsertAccounts([account("a", "A"), account("b")], 1000)).toEqual({
        created: ["a", "b"],
        updated: [],
      });
      expect(await store.upsertAccounts([account("c"), account("a", "A2")], 2000)).toEqual({
        created: ["c"],
        updated: ["a"],
      });
      // Existing ones first: backends must not report by position alone.
      expect(
        await store.upsertAccounts([account("b"), account("d"), account("a", "A2")], 3000),
      ).toEqual({
        created: ["d"],
        updated: ["b", "a"],
      });
      expect(await store.selectAccount("a")).toEqual({
        userId: "a",
        nickname: "A2",
        faceUrl: "",
        createdAtMs: 1000,
      });
    });

    it("returns undefined for a missing account", async () => {
      expect(await store.selectAccount("nobody")).toBeUndefined();
    });

    it("selects the subset of ids that exist", async () => {
      await store.upsertAccounts([account("a"), account("b")], 1);
      expect(await store.selectExistingUserIds(["a", "x", "b"])).toEqual(new Set(["a", "b"]));
      expect(await store.selectExistingUserIds([])).toEqual(new Set());
    });

    it("deletes existing accounts and reports only those", async () => {
      await store.upsertAccounts([account("a"), account("b")], 1);
      expect(await store.deleteAccounts(["a", "zz"])).toEqual(["a"]);
      expect(await store.selectAccount("a")).toBeUndefined();
      expect(await store.deleteAccounts(["a"])).toEqual([]);
      expect(await store.selectAccount("b")).toBeDefined();
    });

    it("records sig invalidation only for existing accounts", async () => {
      await store.upsertAccounts([account("a")], 1);
      expect(await store.updateSigsInvalidBefore("a", 5000)).toBe(true);
      expect((await store.selectAccount("a"))?.sigsInvalidBeforeMs).toBe(5000);
      expect(await store.updateSigsInvalidBefore("missing", 5000)).toBe(false);
      // Re-importing keeps the invalidation: it is about the user, not the profile.
      await store.upsertAccounts([account("a", "again")], 2);
      expect((await store.selectAccount("a"))?.sigsInvalidBeforeMs).toBe(5000);
    });
  });
}
