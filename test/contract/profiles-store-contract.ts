import { beforeEach, describe, expect, it } from "vitest";
import type { ProfileStore } from "../../src/profiles/store.js";

/** What every ProfileStore backend must do. `makeStore` returns an empty store. */
export function describeProfileStoreContract(makeStore: () => Promise<ProfileStore>): void {
  describe("ProfileStore", () => {
    let store: ProfileStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("creates profiles and merges later changes, keeping unnamed fields", async () => {
      await store.upsertProfiles(
        [
          { userId: "a", set: { Tag_Profile_IM_Nick: "A", Tag_Profile_IM_Level: 3 }, unset: [] },
          { userId: "b", set: { Tag_Profile_IM_Gender: "Gender_Type_Male" }, unset: [] },
        ],
        1000,
      );
      await store.upsertProfiles(
        [{ userId: "a", set: { Tag_Profile_IM_Nick: "A2" }, unset: [] }],
        2000,
      );
      const found = await store.selectProfiles(["a", "b", "none"]);
      expect(found.get("a")).toEqual({
        userId: "a",
        fields: { Tag_Profile_IM_Nick: "A2", Tag_Profile_IM_Level: 3 },
        updatedAtMs: 2000,
      });
      expect(found.get("b")?.fields).toEqual({ Tag_Profile_IM_Gender: "Gender_Type_Male" });
      expect(found.has("none")).toBe(false);
    });

    it("round-trips bytes and uint32 values exactly", async () => {
      const bytes = new Uint8Array([0, 1, 254, 255]);
      await store.upsertProfiles(
        [
          {
            userId: "a",
            set: { Tag_Profile_Custom_Blob: bytes, Tag_Profile_IM_Role: 4294967295 },
            unset: [],
          },
        ],
        1,
      );
      const fields = (await store.selectProfiles(["a"])).get("a")?.fields;
      expect(fields?.Tag_Profile_Custom_Blob).toEqual(bytes);
      expect(fields?.Tag_Profile_Custom_Blob).toBeInstanceOf(Uint8Array);
      expect(fields?.Tag_Profile_IM_Role).toBe(4294967295);
    });

    it("unsets fields, and unsetting a missing field or profile is a no-op", async () => {
      await store.upsertProfiles(
        [{ userId: "a", set: { Tag_Profile_Custom_X: "x", Tag_Profile_IM_Nick: "n" }, unset: [] }],
        1,
      );
      await store.upsertProfiles(
        [{ userId: "a", set: {}, unset: ["Tag_Profile_Custom_X", "Tag_Profile_Custom_Never"] }],
        2,
      );
      expect((await store.selectProfiles(["a"])).get("a")?.fields).toEqual({
        Tag_Profile_IM_Nick: "n",
      });
      await store.upsertProfiles(
        [{ userId: "fresh", set: {}, unset: ["Tag_Profile_Custom_X"] }],
        3,
      );
      expect((await store.selectProfiles(["fresh"])).get("fresh")?.fields).toEqual({});
    });

    it("selects nothing for no ids, and an empty change batch stores nothing", async () => {
      await store.upsertProfiles([], 1);
      expect((await store.selectProfiles([])).size).toBe(0);
    });
  });
}
