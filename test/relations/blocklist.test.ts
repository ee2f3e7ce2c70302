import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { AllowType } from "../../src/gen/im/v1/profile_pb.js";
import {
  CheckType,
  FriendRequestChange,
  RelationCheckResult,
  RelationDirection,
} from "../../src/gen/im/v1/relation_pb.js";
import { failureOf } from "../support/clients.js";
import { BACKENDS, type Harness, openLive, startHarness } from "./harness.js";

const R = RelationCheckResult;

describe.each(BACKENDS)("blocklist on %s", (_backend, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ ...env(), BLOCKLIST_MAX: "3" });
  });
  afterAll(() => h.app.close());

  const checkBlocks = async (a: string, ids: string[], checkType = CheckType.BOTH) =>
    (await h.relations(a).checkBlocklist({ userIds: ids, checkType })).results.map((r) => r.result);

  it("blocks in batches, unfriends both ways, cancels pending requests, with events", async () => {
    const [a, b, c, d] = await h.users(4);
    await h.adminRelations.importFriends({ userId: a!, friends: [{ userId: b! }] });
    await h.adminRelations.importFriends({ userId: b!, friends: [{ userId: a! }] });
    await h.relations(c!).addFriend({ toUserId: a! });
    const [sa, sb, sc] = await Promise.all([
      openLive(h.app.baseUrl, a!),
      openLive(h.app.baseUrl, b!),
      openLive(h.app.baseUrl, c!),
    ]);
    try {
      const r = await h.relations(a!).addToBlocklist({ userIds: [b!, c!] });
      expect(r).toMatchObject({ addedUserIds: [b, c], existingUserIds: [] });
      const again = await h.relations(a!).addToBlocklist({ userIds: [c!, d!] });
      expect(again).toMatchObject({ addedUserIds: [d], existingUserIds: [c] });
      const friendCheck = await h
        .relations(a!)
        .checkFriends({ userIds: [b!], checkType: CheckType.BOTH });
      expect(friendCheck.results[0]?.result).toBe(R.NO_RELATION);
      expect((await h.relations(a!).listFriendRequests({})).requests).toEqual([]);

      expect((await sa.waitFor("blocklistChanged")).addedUserIds).toEqual([b, c]);
      await sa.waitFor("friendsChanged", (e) => e.deletedUserIds.includes(b!));
      await sb.waitFor("friendsChanged", (e) => e.deletedUserIds.includes(a!));
      await sc.waitFor("friendRequestChanged", (e) => e.change === FriendRequestChange.REJECTED);
    } finally {
      for (const s of [sa, sb, sc]) s.close();
    }
  });

  it("stops friend requests in both directions", async () => {
    const [a, b] = await h.users(2);
    await h.profiles(a!).setProfile({ profile: { allowType: AllowType.ALLOW_ANY } });
    await h.profiles(b!).setProfile({ profile: { allowType: AllowType.ALLOW_ANY } });
    await h.relations(a!).addToBlocklist({ userIds: [b!] });
    let f = await failureOf(h.relations(a!).addFriend({ toUserId: b! }));
    expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.PEER_IN_BLOCKLIST]);
    f = await failureOf(
      h.relations(b!).addFriend({ toUserId: a!, direction: RelationDirection.BOTH }),
    );
    expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.BLOCKED_BY_PEER]);
    await h.relations(a!).removeFromBlocklist({ userIds: [b!] });
    await h.relations(b!).addFriend({ toUserId: a! });
  });

  it("checks one way and both ways with the reference's result kinds", async () => {
    const [a, b, c, d] = await h.users(4);
    await h.relations(a!).addToBlocklist({ userIds: [b!, c!] });
    await h.relations(b!).addToBlocklist({ userIds: [a!] });
    await h.relations(d!).addToBlocklist({ userIds: [a!] });
    expect(await checkBlocks(a!, [b!, c!, d!, "nobody"])).toEqual([
      R.BOTH_WAY,
      R.A_WITH_B,
      R.B_WITH_A,
      R.NO_RELATION,
    ]);
    expect(await checkBlocks(a!, [b!, d!], CheckType.SINGLE)).toEqual([R.A_WITH_B, R.NO_RELATION]);
  });

  it("lists by pages, removes, and enforces the limit, self and unknown users", async () => {
    const [a, b, c, d, e] = await h.users(5);
    await h.relations(a!).addToBlocklist({ userIds: [d!, b!, c!] });
    let f = await failureOf(h.relations(a!).addToBlocklist({ userIds: [e!] }));
    expect([f.code, f.reason]).toEqual([
      Code.ResourceExhausted,
      ErrorReason.BLOCKLIST_LIMIT_REACHED,
    ]);
    // Re-blocking someone already blocked takes no room.
    await h.relations(a!).addToBlocklist({ userIds: [b!] });
    const first = await h.relations(a!).listBlocklist({ page: { pageSize: 2 } });
    expect(first.blockedUsers.map((x) => x.userId)).toEqual([b, c]);
    expect(first.totalCount).toBe(3);
    const second = await h
      .relations(a!)
      .listBlocklist({ page: { pageSize: 2, cursor: first.page?.nextCursor ?? "" } });
    expect(second.blockedUsers.map((x) => x.userId)).toEqual([d]);
    expect(second.page?.nextCursor).toBe("");
    expect(second.blockedUsers[0]?.blockedAtMs).toBeGreaterThan(0n);

    expect(await h.relations(a!).removeFromBlocklist({ userIds: [c!, e!] })).toMatchObject({
      removedUserIds: [c],
      notBlockedUserIds: [e],
    });
    expect((await h.relations(a!).listBlocklist({})).totalCount).toBe(2);
    f = await failureOf(h.relations(a!).addToBlocklist({ userIds: [e!, a!] }));
    expect([f.reason, f.field]).toEqual([ErrorReason.SELF_RELATION, "user_ids[1]"]);
    f = await failureOf(h.relations(a!).addToBlocklist({ userIds: ["ghost"] }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.NotFound,
      ErrorReason.USER_NOT_FOUND,
      "user_ids[0]",
    ]);
    f = await failureOf(
      h.relations(a!).addToBlocklist({ userIds: Array.from({ length: 1001 }, (_, i) => `x${i}`) }),
    );
    expect([f.reason, f.field]).toEqual([ErrorReason.TOO_MANY_ITEMS, "user_ids"]);
    expect((await h.relations(a!).listBlocklist({})).totalCount).toBe(2);
  });
});
