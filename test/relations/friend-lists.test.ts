import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { failureOf } from "../support/clients.js";
import { BACKENDS, type Harness, openLive, startHarness } from "./harness.js";

describe.each(BACKENDS)("friend lists on %s", (_backend, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ ...env(), FRIEND_LIST_MAX: "3" });
  });
  afterAll(() => h.app.close());

  /** A user with friends b, c, d. */
  const withFriends = async () => {
    const [a, b, c, d, stranger] = await h.users(5);
    await h.adminRelations.importFriends({
      userId: a!,
      friends: [{ userId: b! }, { userId: c! }, { userId: d! }],
    });
    return { a: a!, b: b!, c: c!, d: d!, stranger: stranger! };
  };

  it("creates lists with members, a friend in several lists, and gets one or all", async () => {
    const { a, b, c, d } = await withFriends();
    const api = h.relations(a);
    expect(
      (await api.createFriendList({ name: "Work", userIds: [c, b] })).friendList,
    ).toMatchObject({
      name: "Work",
      userIds: [b, c],
    });
    await api.createFriendList({ name: "Golf", userIds: [b] });
    await api.createFriendList({ name: "Empty" });
    const all = await api.getFriendLists({});
    expect(all.friendLists.map((l) => [l.name, l.userIds])).toEqual([
      ["Work", [b, c]],
      ["Golf", [b]],
      ["Empty", []],
    ]);
    expect((await api.getFriendLists({ names: ["Golf"] })).friendLists.map((l) => l.name)).toEqual([
      "Golf",
    ]);
    const friend = (await api.getFriends({ userIds: [b] })).friends[0];
    expect(friend?.friendLists).toEqual(["Work", "Golf"]);
    expect((await api.getFriends({ userIds: [d] })).friends[0]?.friendLists).toEqual([]);
    const f = await failureOf(api.getFriendLists({ names: ["Golf", "Nope"] }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.NotFound,
      ErrorReason.FRIEND_LIST_NOT_FOUND,
      "names[1]",
    ]);
  });

  it("enforces names, uniqueness, the list limit and membership of friends only", async () => {
    const { a, b, stranger } = await withFriends();
    const api = h.relations(a);
    let f = await failureOf(api.createFriendList({ name: "" }));
    expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_FIELD, "name"]);
    f = await failureOf(api.createFriendList({ name: "n".repeat(31) }));
    expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_FIELD, "name"]);
    await api.createFriendList({ name: "ü".repeat(15) });
    f = await failureOf(api.createFriendList({ name: "ü".repeat(15) }));
    expect([f.code, f.reason]).toEqual([Code.AlreadyExists, ErrorReason.FRIEND_LIST_EXISTS]);
    f = await failureOf(api.createFriendList({ name: "Mixed", userIds: [b, stranger] }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.FailedPrecondition,
      ErrorReason.NOT_A_FRIEND,
      "user_ids[1]",
    ]);
    await api.createFriendList({ name: "Two" });
    await api.createFriendList({ name: "Three" });
    f = await failureOf(api.createFriendList({ name: "Four" }));
    expect([f.code, f.reason]).toEqual([
      Code.ResourceExhausted,
      ErrorReason.FRIEND_LIST_LIMIT_REACHED,
    ]);
    expect((await api.getFriendLists({})).friendLists).toHaveLength(3);
  });

  it("renames, adds, removes and deletes, keeping members friends, with events", async () => {
    const { a, b, c } = await withFriends();
    const api = h.relations(a);
    const s = await openLive(h.app.baseUrl, a);
    try {
      await api.createFriendList({ name: "Old", userIds: [b] });
      await api.createFriendList({ name: "Other" });
      await s.waitFor("friendListsChanged", (e) => e.upserted[0]?.name === "Old");
      let f = await failureOf(api.renameFriendList({ name: "Old", newName: "Other" }));
      expect([f.reason, f.field]).toEqual([ErrorReason.FRIEND_LIST_EXISTS, "new_name"]);
      f = await failureOf(api.renameFriendList({ name: "Missing", newName: "X" }));
      expect([f.reason, f.field]).toEqual([ErrorReason.FRIEND_LIST_NOT_FOUND, "name"]);
      await api.renameFriendList({ name: "Old", newName: "New" });
      const renamed = await s.waitFor("friendListsChanged", (e) => e.renamedFrom === "Old");
      expect(renamed.upserted.map((l) => [l.name, l.userIds])).toEqual([["New", [b]]]);
      expect((await api.getFriends({ userIds: [b] })).friends[0]?.friendLists).toEqual(["New"]);

      expect(
        (await api.addToFriendList({ name: "New", userIds: [c, b] })).friendList?.userIds,
      ).toEqual([b, c]);
      expect(
        (await api.removeFromFriendList({ name: "New", userIds: [b, "nobody"] })).friendList
          ?.userIds,
      ).toEqual([c]);
      await api.deleteFriendList({ name: "New" });
      await s.waitFor("friendListsChanged", (e) => e.deletedNames.includes("New"));
      expect((await api.getFriendLists({})).friendLists.map((l) => l.name)).toEqual(["Other"]);
      expect((await api.getFriends({ userIds: [c] })).friends[0]?.friendLists).toEqual([]);
      expect((await api.listFriends({})).totalCount).toBe(3);
      // A new list of the deleted name starts empty: stale ids never resurface.
      expect((await api.createFriendList({ name: "New" })).friendList?.userIds).toEqual([]);
      f = await failureOf(api.deleteFriendList({ name: "Gone" }));
      expect(f.reason).toBe(ErrorReason.FRIEND_LIST_NOT_FOUND);
    } finally {
      s.close();
    }
  });

  it("puts a new friend in lists when adding, and drops deleted friends from lists", async () => {
    const { a, b } = await withFriends();
    const [e] = await h.users(1);
    await h.profiles(e!).setProfile({ profile: { allowType: 2 } });
    await h.relations(a).createFriendList({ name: "Close", userIds: [b] });
    await h.relations(a).addFriend({ toUserId: e!, friendLists: ["Close"] });
    expect(
      (await h.relations(a).getFriendLists({ names: ["Close"] })).friendLists[0]?.userIds,
    ).toEqual([b, e!].sort());
    await h.relations(a).deleteFriends({ userIds: [b] });
    expect(
      (await h.relations(a).getFriendLists({ names: ["Close"] })).friendLists[0]?.userIds,
    ).toEqual([e]);
  });
});
