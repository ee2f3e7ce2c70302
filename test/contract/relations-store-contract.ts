import { beforeEach, describe, expect, it } from "vitest";
import type {
  FriendRecord,
  FriendRequestRecord,
  RelationStore,
} from "../../src/relations/store.js";

const friend = (
  ownerId: string,
  friendId: string,
  over: Partial<FriendRecord> = {},
): FriendRecord => ({
  ownerId,
  friendId,
  remark: "",
  source: "AddSource_Type_Test",
  wording: "",
  listIds: [],
  custom: {},
  addedAtMs: 1000,
  ...over,
});

const request = (
  from: string,
  to: string,
  createdAtMs: number,
  over: Partial<FriendRequestRecord> = {},
) => ({
  fromUserId: from,
  toUserId: to,
  direction: "single" as const,
  wording: "hi",
  source: "",
  remark: "",
  listIds: [],
  createdAtMs,
  ...over,
});

/** What every RelationStore backend must do. `makeStore` returns an empty store. */
export function describeRelationStoreContract(makeStore: () => Promise<RelationStore>): void {
  describe("RelationStore", () => {
    let store: RelationStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    describe("friends", () => {
      it("inserts absent pairs only, keeping existing entries unchanged", async () => {
        expect(
          await store.insertFriends([friend("a", "b", { remark: "first" }), friend("b", "a")]),
        ).toEqual([
          { ownerId: "a", otherId: "b" },
          { ownerId: "b", otherId: "a" },
        ]);
        expect(
          await store.insertFriends([friend("a", "b", { remark: "again" }), friend("a", "c")]),
        ).toEqual([{ ownerId: "a", otherId: "c" }]);
        expect((await store.selectFriends("a", ["b"])).get("b")?.remark).toBe("first");
        expect(await store.insertFriends([])).toEqual([]);
      });

      it("round-trips every field, custom bytes included", async () => {
        const full = friend("a", "b", {
          remark: "r",
          wording: "w",
          listIds: ["l1", "l2"],
          custom: { Tag_SNS_Custom_S: "s", Tag_SNS_Custom_B: new Uint8Array([1, 2, 255]) },
          addedAtMs: 1234,
        });
        await store.insertFriends([full]);
        expect((await store.selectFriends("a", ["b", "x"])).get("b")).toEqual(full);
        expect((await store.selectFriends("a", ["x"])).size).toBe(0);
      });

      it("patches remark, lists and custom fields; undefined for a non-friend", async () => {
        await store.insertFriends([
          friend("a", "b", { custom: { Tag_SNS_Custom_X: "x", Tag_SNS_Custom_Y: "y" } }),
        ]);
        const updated = await store.updateFriend("a", "b", {
          remark: "new",
          listIds: ["l1", "l1", "l2"],
          setCustom: { Tag_SNS_Custom_Z: "z" },
          unsetCustom: ["Tag_SNS_Custom_X"],
        });
        expect(updated).toMatchObject({
          remark: "new",
          listIds: ["l1", "l2"],
          custom: { Tag_SNS_Custom_Y: "y", Tag_SNS_Custom_Z: "z" },
        });
        expect(await store.updateFriend("a", "b", {})).toEqual(updated);
        expect(await store.updateFriend("a", "nobody", { remark: "x" })).toBeUndefined();
      });

      it("deletes the pairs that exist and reports only those", async () => {
        await store.insertFriends([friend("a", "b"), friend("b", "a"), friend("a", "c")]);
        expect(
          await store.deleteFriends([
            { ownerId: "a", otherId: "b" },
            { ownerId: "a", otherId: "zz" },
            { ownerId: "b", otherId: "a" },
          ]),
        ).toEqual([
          { ownerId: "a", otherId: "b" },
          { ownerId: "b", otherId: "a" },
        ]);
        expect(await store.countFriends("a")).toBe(1);
        expect(await store.deleteFriends([{ ownerId: "a", otherId: "b" }])).toEqual([]);
        expect(await store.deleteFriends([])).toEqual([]);
      });

      it("pages by friend id, exclusive of the cursor, and counts", async () => {
        await store.insertFriends(["d", "b", "e", "a", "c"].map((id) => friend("o", id)));
        await store.insertFriends([friend("other", "x")]);
        const first = await store.selectFriendsPage("o", undefined, 2);
        expect(first.map((f) => f.friendId)).toEqual(["a", "b"]);
        const second = await store.selectFriendsPage("o", "b", 2);
        expect(second.map((f) => f.friendId)).toEqual(["c", "d"]);
        expect((await store.selectFriendsPage("o", "d", 2)).map((f) => f.friendId)).toEqual(["e"]);
        expect(await store.selectFriendsPage("o", "e", 2)).toEqual([]);
        expect(await store.countFriends("o")).toBe(5);
        expect(await store.countFriends("nobody")).toBe(0);
      });

      it("finds the owners who have a friend, optionally among given users", async () => {
        await store.insertFriends([friend("a", "x"), friend("b", "x"), friend("x", "c")]);
        expect((await store.selectFriendOwners("x")).sort()).toEqual(["a", "b"]);
        expect(await store.selectFriendOwners("x", ["b", "c"])).toEqual(["b"]);
        expect(await store.selectFriendOwners("nobody")).toEqual([]);
      });

      it("adds and removes list ids, skipping non-friends, and groups members by list", async () => {
        await store.insertFriends([
          friend("o", "b"),
          friend("o", "a"),
          friend("o", "c", { listIds: ["l2"] }),
        ]);
        await store.addFriendsToList("o", ["a", "b", "stranger"], "l1");
        await store.addFriendsToList("o", ["a"], "l1");
        await store.addFriendsToList("o", ["a"], "l2");
        expect(await store.selectFriendListMembers("o")).toEqual(
          new Map([
            ["l1", ["a", "b"]],
            ["l2", ["a", "c"]],
          ]),
        );
        expect((await store.selectFriends("o", ["a"])).get("a")?.listIds).toEqual(["l1", "l2"]);
        await store.removeFriendsFromList("o", ["a", "stranger"], "l1");
        await store.removeFriendsFromList("o", undefined, "l2");
        expect(await store.selectFriendListMembers("o")).toEqual(new Map([["l1", ["b"]]]));
      });
    });

    describe("friend requests", () => {
      it("creates, replaces, selects and deletes one request per direction", async () => {
        expect(await store.upsertFriendRequest(request("a", "b", 1))).toBe("created");
        expect(
          await store.upsertFriendRequest(
            request("a", "b", 2, { wording: "again", listIds: ["l"] }),
          ),
        ).toBe("replaced");
        expect(await store.selectFriendRequest("a", "b")).toEqual(
          request("a", "b", 2, { wording: "again", listIds: ["l"] }),
        );
        expect(await store.selectFriendRequest("b", "a")).toBeUndefined();
        expect((await store.deleteFriendRequest("a", "b"))?.wording).toBe("again");
        expect(await store.deleteFriendRequest("a", "b")).toBeUndefined();
      });

      it("lists incoming and outgoing requests oldest first and counts them", async () => {
        await store.upsertFriendRequest(request("c", "me", 30));
        await store.upsertFriendRequest(request("a", "me", 10));
        await store.upsertFriendRequest(request("b", "me", 10));
        await store.upsertFriendRequest(request("me", "z", 5, { direction: "both" }));
        expect(
          (await store.selectFriendRequests("me", "incoming")).map((r) => r.fromUserId),
        ).toEqual(["a", "b", "c"]);
        expect(await store.selectFriendRequests("me", "outgoing")).toEqual([
          request("me", "z", 5, { direction: "both" }),
        ]);
        expect(await store.countFriendRequests("me", "incoming")).toBe(3);
        expect(await store.countFriendRequests("me", "outgoing")).toBe(1);
        expect(await store.countFriendRequests("nobody", "incoming")).toBe(0);
      });
    });

    describe("friend lists", () => {
      const list = (ownerId: string, listId: string, name: string, createdAtMs = 1) => ({
        ownerId,
        listId,
        name,
        createdAtMs,
      });

      it("inserts lists with names unique per owner, ordered by creation", async () => {
        expect(await store.insertFriendList(list("o", "id2", "Work", 2))).toBe(true);
        expect(await store.insertFriendList(list("o", "id1", "Family", 1))).toBe(true);
        expect(await store.insertFriendList(list("o", "id3", "Work", 3))).toBe(false);
        expect(await store.insertFriendList(list("p", "id4", "Work", 3))).toBe(true);
        expect(await store.selectFriendLists("o")).toEqual([
          list("o", "id1", "Family", 1),
          list("o", "id2", "Work", 2),
        ]);
        expect(await store.selectFriendLists("nobody")).toEqual([]);
      });

      it("renames unless missing or the new name is taken", async () => {
        await store.insertFriendList(list("o", "id1", "A", 1));
        await store.insertFriendList(list("o", "id2", "B", 2));
        expect(await store.renameFriendList("o", "A", "B")).toBe("name-taken");
        expect(await store.renameFriendList("o", "nope", "C")).toBe("not-found");
        expect(await store.renameFriendList("o", "A", "C")).toBe("renamed");
        expect((await store.selectFriendLists("o")).map((l) => [l.listId, l.name])).toEqual([
          ["id1", "C"],
          ["id2", "B"],
        ]);
      });

      it("deletes a list and returns it; undefined when missing", async () => {
        await store.insertFriendList(list("o", "id1", "A"));
        expect(await store.deleteFriendList("o", "A")).toEqual(list("o", "id1", "A"));
        expect(await store.deleteFriendList("o", "A")).toBeUndefined();
        expect(await store.insertFriendList(list("o", "id9", "A"))).toBe(true);
      });
    });

    describe("blocklist", () => {
      it("inserts absent entries, keeping the original time", async () => {
        expect(await store.insertBlocks("o", ["b", "a"], 10)).toEqual(["b", "a"]);
        expect(await store.insertBlocks("o", ["a", "c"], 20)).toEqual(["c"]);
        expect(await store.selectBlocksPage("o", undefined, 10)).toEqual([
          { ownerId: "o", blockedId: "a", blockedAtMs: 10 },
          { ownerId: "o", blockedId: "b", blockedAtMs: 10 },
          { ownerId: "o", blockedId: "c", blockedAtMs: 20 },
        ]);
        expect(await store.insertBlocks("o", [], 1)).toEqual([]);
      });

      it("pages by blocked id, counts, and deletes only existing entries", async () => {
        await store.insertBlocks("o", ["c", "a", "b"], 1);
        expect((await store.selectBlocksPage("o", "a", 1)).map((b) => b.blockedId)).toEqual(["b"]);
        expect(await store.countBlocks("o")).toBe(3);
        expect(await store.deleteBlocks("o", ["b", "zz"])).toEqual(["b"]);
        expect(await store.countBlocks("o")).toBe(2);
        expect(await store.deleteBlocks("o", ["b"])).toEqual([]);
      });

      it("answers who blocked whom in both directions", async () => {
        await store.insertBlocks("a", ["x", "y"], 1);
        await store.insertBlocks("b", ["x"], 1);
        expect(await store.selectBlockedAmong("a", ["x", "z", "y"])).toEqual(new Set(["x", "y"]));
        expect(await store.selectBlockersAmong("x", ["a", "b", "c"])).toEqual(new Set(["a", "b"]));
        expect(await store.selectBlockersAmong("x", [])).toEqual(new Set());
        expect(await store.selectBlockedAmong("a", [])).toEqual(new Set());
      });
    });
  });
}
