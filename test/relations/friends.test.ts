import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { AdminForbidType, AllowType } from "../../src/gen/im/v1/profile_pb.js";
import {
  AddFriendOutcome,
  CheckType,
  FriendRequestChange,
  RelationCheckResult,
  RelationDirection,
  RequestDirection,
} from "../../src/gen/im/v1/relation_pb.js";
import { failureOf } from "../support/clients.js";
import { BACKENDS, type Harness, openLive, startHarness } from "./harness.js";

const { SINGLE, BOTH } = RelationDirection;
const R = RelationCheckResult;

describe.each(BACKENDS)("friends on %s", (_backend, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      ...env(),
      FRIEND_MAX: "3",
      FRIEND_PENDING_REQUEST_MAX: "2",
      FRIEND_CUSTOM_FIELDS: "Tag:string,Blob:bytes",
    });
  });
  afterAll(() => h.app.close());

  const allowAny = (userId: string) =>
    h.profiles(userId).setProfile({ profile: { allowType: AllowType.ALLOW_ANY } });
  const check = async (a: string, ids: string[], checkType = CheckType.BOTH) =>
    (await h.relations(a).checkFriends({ userIds: ids, checkType })).results.map((r) => r.result);

  it("adds at once when the target allows anyone: one way or both ways", async () => {
    const [a, b, c] = await h.users(3);
    await allowAny(b!);
    await allowAny(c!);
    const added = await h.relations(a!).addFriend({
      toUserId: b!,
      remark: "Bee",
      source: "AddSource_Type_Android",
      wording: "hello",
    });
    expect(added.outcome).toBe(AddFriendOutcome.ADDED);
    expect(added.friend).toMatchObject({
      userId: b,
      remark: "Bee",
      source: "AddSource_Type_Android",
      wording: "hello",
    });
    await h.relations(a!).addFriend({ toUserId: c!, direction: BOTH });
    expect(await check(a!, [b!, c!])).toEqual([R.A_WITH_B, R.BOTH_WAY]);
    expect(await check(b!, [a!])).toEqual([R.B_WITH_A]);
    expect(await check(b!, [a!], CheckType.SINGLE)).toEqual([R.NO_RELATION]);
    expect(await check(a!, [b!], CheckType.SINGLE)).toEqual([R.A_WITH_B]);
  });

  it("needs confirmation by default: pending request, events to both, accept makes friends", async () => {
    const [a, b] = await h.users(2);
    const [sa, sb] = await Promise.all([openLive(h.app.baseUrl, a!), openLive(h.app.baseUrl, b!)]);
    try {
      const r = await h
        .relations(a!)
        .addFriend({ toUserId: b!, direction: BOTH, wording: "let's talk", remark: "secret" });
      expect(r.outcome).toBe(AddFriendOutcome.PENDING);
      expect(r.request).toMatchObject({
        fromUserId: a,
        toUserId: b,
        direction: BOTH,
        remark: "secret",
      });
      const incoming = await sb.waitFor("friendRequestChanged");
      expect(incoming.change).toBe(FriendRequestChange.CREATED);
      // The requester's remark is theirs alone.
      expect(incoming.request).toMatchObject({ fromUserId: a, wording: "let's talk", remark: "" });
      await sa.waitFor("friendRequestChanged", (e) => e.change === FriendRequestChange.CREATED);

      const inList = await h
        .relations(b!)
        .listFriendRequests({ direction: RequestDirection.INCOMING });
      expect(inList.requests.map((q) => q.fromUserId)).toEqual([a]);
      const outList = await h
        .relations(a!)
        .listFriendRequests({ direction: RequestDirection.OUTGOING });
      expect(outList.requests.map((q) => [q.toUserId, q.remark])).toEqual([[b, "secret"]]);
      expect(await check(a!, [b!])).toEqual([R.NO_RELATION]);

      expect(
        await h.relations(b!).acceptFriendRequest({ fromUserId: a!, remark: "Ay" }),
      ).toMatchObject({
        addedBack: true,
      });
      expect(await check(a!, [b!])).toEqual([R.BOTH_WAY]);
      await sa.waitFor("friendRequestChanged", (e) => e.change === FriendRequestChange.ACCEPTED);
      const aFriends = await sa.waitFor("friendsChanged");
      expect(aFriends.upserted.map((f) => [f.userId, f.remark])).toEqual([[b, "secret"]]);
      const bFriends = await sb.waitFor("friendsChanged");
      expect(bFriends.upserted.map((f) => [f.userId, f.remark])).toEqual([[a, "Ay"]]);
      expect((await h.relations(b!).listFriendRequests({})).requests).toEqual([]);
      const again = await failureOf(h.relations(b!).acceptFriendRequest({ fromUserId: a! }));
      expect([again.code, again.reason]).toEqual([
        Code.NotFound,
        ErrorReason.FRIEND_REQUEST_NOT_FOUND,
      ]);
    } finally {
      sa.close();
      sb.close();
    }
  });

  it("accepting a one-way request adds only the requester's side unless add_back", async () => {
    const [a, b, c] = await h.users(3);
    await h.relations(a!).addFriend({ toUserId: b! });
    expect(await h.relations(b!).acceptFriendRequest({ fromUserId: a! })).toMatchObject({
      addedBack: false,
    });
    expect(await check(a!, [b!])).toEqual([R.A_WITH_B]);
    await h.relations(c!).addFriend({ toUserId: b! });
    await h.relations(b!).acceptFriendRequest({ fromUserId: c!, addBack: true });
    expect(await check(c!, [b!])).toEqual([R.BOTH_WAY]);
  });

  it("rejects and cancels requests, telling the requester", async () => {
    const [a, b] = await h.users(2);
    const sa = await openLive(h.app.baseUrl, a!);
    try {
      await h.relations(a!).addFriend({ toUserId: b! });
      await h.relations(b!).rejectFriendRequest({ fromUserId: a! });
      await sa.waitFor("friendRequestChanged", (e) => e.change === FriendRequestChange.REJECTED);
      expect(await check(a!, [b!])).toEqual([R.NO_RELATION]);
      await h.relations(a!).addFriend({ toUserId: b! });
      await h.relations(a!).cancelFriendRequest({ toUserId: b! });
      await sa.waitFor("friendRequestChanged", (e) => e.change === FriendRequestChange.CANCELLED);
      expect((await h.relations(b!).listFriendRequests({})).requests).toEqual([]);
      const f = await failureOf(h.relations(b!).rejectFriendRequest({ fromUserId: a! }));
      expect(f.reason).toBe(ErrorReason.FRIEND_REQUEST_NOT_FOUND);
    } finally {
      sa.close();
    }
  });

  it("refuses by the target's deny-any, the requester's admin ban, and bad targets", async () => {
    const [a, b, c] = await h.users(3);
    await h.profiles(b!).setProfile({ profile: { allowType: AllowType.DENY_ANY } });
    let f = await failureOf(h.relations(a!).addFriend({ toUserId: b! }));
    expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.FRIEND_REQUEST_DENIED]);
    await h.adminProfiles.setProfile({
      userId: c!,
      profile: { adminForbidType: AdminForbidType.SEND_OUT },
    });
    f = await failureOf(h.relations(c!).addFriend({ toUserId: a! }));
    expect([f.code, f.reason]).toEqual([
      Code.PermissionDenied,
      ErrorReason.FRIEND_REQUEST_FORBIDDEN,
    ]);
    f = await failureOf(h.relations(a!).addFriend({ toUserId: a! }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.InvalidArgument,
      ErrorReason.SELF_RELATION,
      "to_user_id",
    ]);
    f = await failureOf(h.relations(a!).addFriend({ toUserId: "ghost" }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.NotFound,
      ErrorReason.USER_NOT_FOUND,
      "to_user_id",
    ]);
    f = await failureOf(h.relations(a!).addFriend({ toUserId: "bad id" }));
    expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_USER_ID, "to_user_id"]);
  });

  it.each([
    ["a remark over 96 bytes", { remark: "r".repeat(97) }, "remark"],
    ["wording over 256 bytes", { wording: "w".repeat(257) }, "wording"],
    ["a source without the prefix", { source: "Android" }, "source"],
    ["a source keyword over 8 letters", { source: "AddSource_Type_Ninechars" }, "source"],
    ["a source keyword with digits", { source: "AddSource_Type_And1" }, "source"],
    ["an unknown friend list", { friendLists: ["Nope"] }, "friend_lists[0]"],
  ])("rejects %s naming the field", async (_n, bad, field) => {
    const [a, b] = await h.users(2);
    await allowAny(b!);
    const f = await failureOf(h.relations(a!).addFriend({ toUserId: b!, ...bad }));
    expect(f.field).toBe(field);
    expect(await check(a!, [b!])).toEqual([R.NO_RELATION]);
  });

  it("accepts the boundary lengths", async () => {
    const [a, b] = await h.users(2);
    await allowAny(b!);
    const r = await h.relations(a!).addFriend({
      toUserId: b!,
      remark: "é".repeat(48),
      wording: "w".repeat(256),
      source: "AddSource_Type_Eightchr",
    });
    expect(r.outcome).toBe(AddFriendOutcome.ADDED);
  });

  it("refuses adding an existing friend, but completes a one-way relation both ways", async () => {
    const [a, b] = await h.users(2);
    await allowAny(b!);
    await h.relations(a!).addFriend({ toUserId: b! });
    const f = await failureOf(h.relations(a!).addFriend({ toUserId: b! }));
    expect([f.code, f.reason]).toEqual([Code.AlreadyExists, ErrorReason.ALREADY_FRIENDS]);
    await h.relations(a!).addFriend({ toUserId: b!, direction: BOTH });
    expect(await check(a!, [b!])).toEqual([R.BOTH_WAY]);
    // b already has a: b adding a back needs no confirmation from a (who chose b).
    const [c, d] = await h.users(2);
    await allowAny(d!);
    await h.relations(c!).addFriend({ toUserId: d! });
    expect((await h.relations(d!).addFriend({ toUserId: c! })).outcome).toBe(
      AddFriendOutcome.ADDED,
    );
  });

  it("enforces the friend limit on both sides", async () => {
    const [a, b, c, d, e] = await h.users(5);
    await h.adminRelations.importFriends({
      userId: a!,
      friends: [{ userId: b! }, { userId: c! }, { userId: d! }],
    });
    await allowAny(e!);
    let f = await failureOf(h.relations(a!).addFriend({ toUserId: e! }));
    expect([f.code, f.reason]).toEqual([Code.ResourceExhausted, ErrorReason.FRIEND_LIMIT_REACHED]);
    await allowAny(a!);
    f = await failureOf(h.relations(e!).addFriend({ toUserId: a!, direction: BOTH }));
    expect([f.reason, f.field]).toEqual([ErrorReason.FRIEND_LIMIT_REACHED, "to_user_id"]);
    f = await failureOf(h.adminRelations.importFriends({ userId: a!, friends: [{ userId: e! }] }));
    expect(f.reason).toBe(ErrorReason.FRIEND_LIMIT_REACHED);
    // A request still pends; accepting it hits the limit.
    await h.profiles(a!).setProfile({ profile: { allowType: AllowType.NEED_CONFIRM } });
    await h.relations(e!).addFriend({ toUserId: a!, direction: BOTH });
    f = await failureOf(h.relations(a!).acceptFriendRequest({ fromUserId: e! }));
    expect(f.reason).toBe(ErrorReason.FRIEND_LIMIT_REACHED);
  });

  it("enforces the pending request limit for senders and receivers; repeating a request updates it", async () => {
    const [a, b, c, d] = await h.users(4);
    await h.relations(a!).addFriend({ toUserId: b! });
    await h.relations(a!).addFriend({ toUserId: c! });
    await h.relations(a!).addFriend({ toUserId: c!, wording: "again" });
    let f = await failureOf(h.relations(a!).addFriend({ toUserId: d! }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.ResourceExhausted,
      ErrorReason.PENDING_REQUEST_LIMIT_REACHED,
      "as_user_id",
    ]);
    const out = await h.relations(a!).listFriendRequests({ direction: RequestDirection.OUTGOING });
    expect(out.requests.map((r) => [r.toUserId, r.wording])).toEqual([
      [b, ""],
      [c, "again"],
    ]);
    await h.relations(c!).addFriend({ toUserId: d! });
    await h.relations(b!).addFriend({ toUserId: d! });
    f = await failureOf(h.relations(a!).addFriend({ toUserId: d! }));
    expect(f.reason).toBe(ErrorReason.PENDING_REQUEST_LIMIT_REACHED);
  });

  it("imports one-way friends in batches, creating lists, validating everything first", async () => {
    const [owner, x, y, z] = await h.users(4);
    const s = await openLive(h.app.baseUrl, owner!);
    try {
      const bad = await failureOf(
        h.adminRelations.importFriends({
          userId: owner!,
          friends: [
            { userId: x!, friendLists: ["Work"] },
            { userId: y!, source: "Nope" },
          ],
        }),
      );
      expect([bad.reason, bad.field]).toEqual([ErrorReason.INVALID_FIELD, "friends[1].source"]);
      const ghost = await failureOf(
        h.adminRelations.importFriends({
          userId: owner!,
          friends: [{ userId: x! }, { userId: "ghost" }],
        }),
      );
      expect([ghost.reason, ghost.field]).toEqual([
        ErrorReason.USER_NOT_FOUND,
        "friends[1].user_id",
      ]);
      const custom = await failureOf(
        h.adminRelations.importFriends({
          userId: owner!,
          friends: [
            {
              userId: x!,
              customFields: { Tag_SNS_Custom_Nope: { value: { case: "stringValue", value: "v" } } },
            },
          ],
        }),
      );
      expect(custom.field).toBe("friends[0].custom_fields.Tag_SNS_Custom_Nope");
      expect((await h.relations(owner!).listFriends({})).totalCount).toBe(0);
      expect((await h.relations(owner!).getFriendLists({})).friendLists).toEqual([]);

      const r = await h.adminRelations.importFriends({
        userId: owner!,
        friends: [
          {
            userId: x!,
            remark: "X",
            source: "AddSource_Type_Import",
            friendLists: ["Work", "Golf"],
            addedAtMs: 1234n,
            customFields: { Tag_SNS_Custom_Tag: { value: { case: "stringValue", value: "t" } } },
          },
          { userId: y!, friendLists: ["Work"] },
        ],
      });
      expect(r).toMatchObject({ addedUserIds: [x, y], existingUserIds: [] });
      const again = await h.adminRelations.importFriends({
        userId: owner!,
        friends: [{ userId: y! }, { userId: z! }],
      });
      expect(again).toMatchObject({ addedUserIds: [z], existingUserIds: [y] });
      const got = await h.relations(owner!).getFriends({ userIds: [x!, "nobody"] });
      expect(got.notFriendUserIds).toEqual(["nobody"]);
      expect(got.friends[0]).toMatchObject({
        userId: x,
        remark: "X",
        source: "AddSource_Type_Import",
        friendLists: ["Work", "Golf"],
        addedAtMs: 1234n,
      });
      expect(got.friends[0]?.customFields.Tag_SNS_Custom_Tag?.value.value).toBe("t");
      const lists = await h.relations(owner!).getFriendLists({});
      // Created in the same millisecond: ordered by name.
      expect(lists.friendLists.map((l) => [l.name, l.userIds])).toEqual([
        ["Golf", [x]],
        ["Work", [x, y].sort()],
      ]);
      // One way: x does not have owner.
      expect(await check(owner!, [x!])).toEqual([R.A_WITH_B]);
      await s.waitFor("friendsChanged", (e) => e.upserted.some((f) => f.userId === z));
    } finally {
      s.close();
    }
  });

  it("caps imports at 1,000 per call and keeps them for administrators", async () => {
    const [owner] = await h.users(1);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ userId: `f${i}` }));
    const f = await failureOf(h.adminRelations.importFriends({ userId: owner!, friends: tooMany }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.InvalidArgument,
      ErrorReason.TOO_MANY_ITEMS,
      "friends",
    ]);
    const app = await failureOf(
      h.relations(owner!).importFriends({ userId: owner!, friends: [{ userId: "x" }] }),
    );
    expect(app.reason).toBe(ErrorReason.ADMIN_REQUIRED);
  });

  it("updates remark, lists and custom fields of a friend", async () => {
    const [a, b] = await h.users(2);
    await h.adminRelations.importFriends({
      userId: a!,
      friends: [{ userId: b!, friendLists: ["Old"] }],
    });
    await h.relations(a!).createFriendList({ name: "New" });
    const s = await openLive(h.app.baseUrl, a!);
    try {
      const r = await h.relations(a!).updateFriend({
        userId: b!,
        remark: "Best",
        replaceFriendLists: true,
        friendLists: ["New"],
        customFields: {
          Tag_SNS_Custom_Tag: { value: { case: "stringValue", value: "v" } },
          Tag_SNS_Custom_Blob: { value: { case: "bytesValue", value: new Uint8Array([9]) } },
        },
      });
      expect(r.friend).toMatchObject({ userId: b, remark: "Best", friendLists: ["New"] });
      expect(r.friend?.customFields.Tag_SNS_Custom_Blob?.value.value).toEqual(new Uint8Array([9]));
      await s.waitFor("friendsChanged", (e) => e.upserted[0]?.remark === "Best");
      // Absent fields stay; an empty custom value clears.
      const r2 = await h.relations(a!).updateFriend({
        userId: b!,
        customFields: { Tag_SNS_Custom_Tag: { value: { case: "stringValue", value: "" } } },
      });
      expect(r2.friend?.remark).toBe("Best");
      expect(r2.friend?.friendLists).toEqual(["New"]);
      expect(Object.keys(r2.friend?.customFields ?? {})).toEqual(["Tag_SNS_Custom_Blob"]);
      let f = await failureOf(h.relations(a!).updateFriend({ userId: b!, remark: "x".repeat(97) }));
      expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_FIELD, "remark"]);
      f = await failureOf(
        h.relations(a!).updateFriend({
          userId: b!,
          customFields: {
            Tag_SNS_Custom_Tag: { value: { case: "bytesValue", value: new Uint8Array([1]) } },
          },
        }),
      );
      expect(f.field).toBe("custom_fields.Tag_SNS_Custom_Tag");
      f = await failureOf(h.relations(b!).updateFriend({ userId: a!, remark: "x" }));
      expect([f.code, f.reason, f.field]).toEqual([
        Code.FailedPrecondition,
        ErrorReason.NOT_A_FRIEND,
        "user_id",
      ]);
    } finally {
      s.close();
    }
  });

  it("deletes friends one way or both ways, in batches, telling each side", async () => {
    const [a, b, c, d] = await h.users(4);
    for (const x of [b!, c!, d!]) {
      await h.adminRelations.importFriends({ userId: x, friends: [{ userId: a! }] });
      await h.adminRelations.importFriends({ userId: a!, friends: [{ userId: x }] });
    }
    const [sa, sc] = await Promise.all([openLive(h.app.baseUrl, a!), openLive(h.app.baseUrl, c!)]);
    try {
      const single = await h
        .relations(a!)
        .deleteFriends({ userIds: [b!, "nobody"], direction: SINGLE });
      expect(single).toMatchObject({ deletedUserIds: [b], notFriendUserIds: ["nobody"] });
      expect(await check(a!, [b!])).toEqual([R.B_WITH_A]);
      const both = await h.relations(a!).deleteFriends({ userIds: [c!, d!], direction: BOTH });
      expect(both.deletedUserIds).toEqual([c, d]);
      expect(await check(a!, [b!, c!, d!])).toEqual([R.B_WITH_A, R.NO_RELATION, R.NO_RELATION]);
      await sa.waitFor("friendsChanged", (e) => e.deletedUserIds.includes(c!));
      await sc.waitFor("friendsChanged", (e) => e.deletedUserIds.includes(a!));
      // Both ways also removes the other side alone.
      const rest = await h.relations(a!).deleteFriends({ userIds: [b!], direction: BOTH });
      expect(rest.deletedUserIds).toEqual([b]);
      expect(await check(a!, [b!])).toEqual([R.NO_RELATION]);
    } finally {
      sa.close();
      sc.close();
    }
  });

  it("lists friends by pages with a cursor and a total", async () => {
    const [owner, ...others] = await h.users(4);
    // FRIEND_MAX is 3 here.
    await h.adminRelations.importFriends({
      userId: owner!,
      friends: others.map((userId) => ({ userId })),
    });
    const seen: string[] = [];
    let cursor = "";
    let pages = 0;
    do {
      const r = await h.relations(owner!).listFriends({ page: { pageSize: 2, cursor } });
      expect(r.totalCount).toBe(3);
      seen.push(...r.friends.map((f) => f.userId));
      cursor = r.page?.nextCursor ?? "";
      pages += 1;
    } while (cursor !== "");
    expect(pages).toBe(2);
    expect(seen).toEqual([...others].sort());
    const f = await failureOf(h.relations(owner!).listFriends({ page: { cursor: "garbage" } }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.InvalidArgument,
      ErrorReason.INVALID_CURSOR,
      "page.cursor",
    ]);
  });

  it("lets administrators act for a user, and nobody else", async () => {
    const [a, b] = await h.users(2);
    await allowAny(b!);
    await h.adminRelations.addFriend({ asUserId: a!, toUserId: b! });
    expect(
      (await h.adminRelations.listFriends({ asUserId: a! })).friends.map((f) => f.userId),
    ).toEqual([b]);
    let f = await failureOf(h.relations(b!).listFriends({ asUserId: a! }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.PermissionDenied,
      ErrorReason.ADMIN_REQUIRED,
      "as_user_id",
    ]);
    f = await failureOf(h.adminRelations.listFriends({ asUserId: "ghost" }));
    expect([f.reason, f.field]).toEqual([ErrorReason.USER_NOT_FOUND, "as_user_id"]);
  });

  it("checks and deletes at most the batch limit", async () => {
    const [a] = await h.users(1);
    const ids = Array.from({ length: 1001 }, (_, i) => `x${i}`);
    for (const call of [
      () => h.relations(a!).checkFriends({ userIds: ids }),
      () => h.relations(a!).deleteFriends({ userIds: ids }),
      () => h.relations(a!).getFriends({ userIds: ids }),
    ]) {
      const f = await failureOf(call());
      expect([f.reason, f.field]).toEqual([ErrorReason.TOO_MANY_ITEMS, "user_ids"]);
    }
    const f = await failureOf(h.relations(a!).checkFriends({ userIds: [] }));
    expect(f.code).toBe(Code.InvalidArgument);
  });
});
