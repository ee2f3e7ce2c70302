import { beforeEach, describe, expect, it } from "vitest";
import {
  ApplyJoinOption,
  GroupRole,
  GroupType,
  MessageReceiveOption,
} from "../../src/gen/im/v1/group_pb.js";
import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
  JoinApplicationStore,
} from "../../src/groups/store.js";

export interface GroupStores {
  groups: GroupStore;
  groupMembers: GroupMemberStore;
  groupApplications: JoinApplicationStore;
}

const bytes = (s: string) => new TextEncoder().encode(s);

const group = (groupId: string, over: Partial<GroupRecord> = {}): GroupRecord => ({
  groupId,
  type: GroupType.PUBLIC,
  name: "g",
  introduction: "",
  notification: "",
  faceUrl: "",
  ownerUserId: "owner",
  createdAtMs: 1000,
  infoSeq: 0,
  lastInfoTimeMs: 1000,
  lastMessageTimeMs: 0,
  lastSeq: 0,
  memberCount: 0,
  maxMemberCount: 0,
  applyJoinOption: ApplyJoinOption.NEED_PERMISSION,
  muteAll: false,
  customFields: {},
  active: true,
  ...over,
});

/** A plain member record (MEMBER, joined at 1000, nothing read). */
export const member = (groupId: string, userId: string, over: Partial<GroupMemberRecord> = {}) => ({
  groupId,
  userId,
  role: GroupRole.MEMBER,
  joinedAtMs: 1000,
  joinSeq: 0,
  readSeq: 0,
  receiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
  lastSendTimeMs: 0,
  nameCard: "",
  customFields: {},
  ...over,
});

/** What every backend of the three group ports must do. `make` returns empty stores. */
export function describeGroupStoreContract(make: () => Promise<GroupStores>): void {
  let s: GroupStores;
  beforeEach(async () => {
    s = await make();
  });

  describe("GroupStore", () => {
    it("inserts a group once, and round-trips every field including binary custom fields", async () => {
      const g = group("g1", { customFields: { Level: new Uint8Array([0, 1, 255]) } });
      expect(await s.groups.insertGroup(g)).toBe(true);
      expect(await s.groups.insertGroup(group("g1", { name: "other" }))).toBe(false);
      expect(await s.groups.selectGroup("g1")).toEqual(g);
      expect(await s.groups.selectGroup("nope")).toBeUndefined();
    });

    it("keeps group ids with spaces, dots and symbols distinct", async () => {
      for (const id of ["a b", "a.b", "a$b", "@TGS#x"]) await s.groups.insertGroup(group(id));
      const found = await s.groups.selectGroups(["a b", "a.b", "missing", "@TGS#x"]);
      expect(found.map((g) => g.groupId).sort()).toEqual(["@TGS#x", "a b", "a.b"]);
      expect(await s.groups.selectGroups([])).toEqual([]);
    });

    it("patches only given keys, bumps infoSeq, sets and deletes custom fields", async () => {
      await s.groups.insertGroup(
        group("g", { customFields: { A: bytes("a"), B: bytes("b") }, introduction: "keep" }),
      );
      const after = await s.groups.updateGroupProfile(
        "g",
        { name: "new", muteAll: true, customFields: { A: null, C: bytes("c") } },
        5000,
      );
      expect(after).toMatchObject({
        name: "new",
        introduction: "keep",
        muteAll: true,
        infoSeq: 1,
        lastInfoTimeMs: 5000,
      });
      expect(after?.customFields).toEqual({ B: bytes("b"), C: bytes("c") });
      expect(await s.groups.updateGroupProfile("nope", { name: "x" }, 1)).toBeUndefined();
    });

    it("changes the owner, also to none", async () => {
      await s.groups.insertGroup(group("g"));
      expect(await s.groups.updateGroupOwner("g", "", 7)).toBe(true);
      expect(await s.groups.selectGroup("g")).toMatchObject({ ownerUserId: "", infoSeq: 1 });
      expect(await s.groups.updateGroupOwner("nope", "x", 7)).toBe(false);
    });

    it("reserves member slots up to the limit, atomically under concurrency", async () => {
      await s.groups.insertGroup(group("g"));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => s.groups.reserveMemberSlots("g", 1, 4)),
      );
      expect(results.filter(Boolean)).toHaveLength(4);
      expect((await s.groups.selectGroup("g"))?.memberCount).toBe(4);
      expect(await s.groups.reserveMemberSlots("g", 1, 4)).toBe(false);
      await s.groups.releaseMemberSlots("g", 2);
      expect(await s.groups.reserveMemberSlots("g", 2, 4)).toBe(true);
      // 0 means no limit.
      expect(await s.groups.reserveMemberSlots("g", 1000, 0)).toBe(true);
      expect(await s.groups.reserveMemberSlots("nope", 1, 0)).toBe(false);
    });

    it("hands out seqs once each, concurrently, and activates the group", async () => {
      await s.groups.insertGroup(group("g", { active: false }));
      const lasts = await Promise.all(
        Array.from({ length: 20 }, () => s.groups.allocateGroupSeqs("g", 1, 9000)),
      );
      expect(new Set(lasts).size).toBe(20);
      expect(Math.max(...(lasts as number[]))).toBe(20);
      expect(await s.groups.allocateGroupSeqs("g", 5, 9001)).toBe(25);
      expect(await s.groups.selectGroup("g")).toMatchObject({
        lastSeq: 25,
        active: true,
        lastMessageTimeMs: 9001,
      });
      expect(await s.groups.allocateGroupSeqs("nope", 1, 1)).toBeUndefined();
    });

    it("deletes a group", async () => {
      await s.groups.insertGroup(group("g"));
      expect(await s.groups.deleteGroup("g")).toBe(true);
      expect(await s.groups.deleteGroup("g")).toBe(false);
      expect(await s.groups.selectGroup("g")).toBeUndefined();
    });
  });

  describe("GroupMemberStore", () => {
    it("inserts only new members and reports them in input order", async () => {
      expect(await s.groupMembers.insertMembers([member("g", "b"), member("g", "a")])).toEqual([
        "b",
        "a",
      ]);
      expect(
        await s.groupMembers.insertMembers([
          member("g", "a", { role: GroupRole.OWNER }),
          member("g", "c"),
        ]),
      ).toEqual(["c"]);
      // The existing membership was not overwritten.
      expect((await s.groupMembers.selectMember("g", "a"))?.role).toBe(GroupRole.MEMBER);
      expect(await s.groupMembers.insertMembers([])).toEqual([]);
    });

    it("round-trips a membership and returns undefined for a non-member", async () => {
      const m = member("g", "u", { nameCard: "card", customFields: { K: bytes("v") }, joinSeq: 4 });
      await s.groupMembers.insertMembers([m]);
      expect(await s.groupMembers.selectMember("g", "u")).toEqual(m);
      expect(await s.groupMembers.selectMember("g", "x")).toBeUndefined();
      expect(await s.groupMembers.selectMember("other", "u")).toBeUndefined();
    });

    it("pages a group's members in user id order, exclusive cursor", async () => {
      await s.groupMembers.insertMembers(["d", "a", "c", "b", "e"].map((u) => member("g", u)));
      await s.groupMembers.insertMembers([member("h", "a0")]);
      const page1 = await s.groupMembers.selectMembersPage("g", "", 2);
      const page2 = await s.groupMembers.selectMembersPage("g", "b", 2);
      const page3 = await s.groupMembers.selectMembersPage("g", "d", 2);
      expect([page1, page2, page3].map((p) => p.map((m) => m.userId))).toEqual([
        ["a", "b"],
        ["c", "d"],
        ["e"],
      ]);
      expect(await s.groupMembers.selectMembersPage("g", "e", 2)).toEqual([]);
    });

    it("selects given members, members by role, and a user's memberships by group id", async () => {
      await s.groupMembers.insertMembers([
        member("g1", "o", { role: GroupRole.OWNER }),
        member("g1", "a", { role: GroupRole.ADMIN }),
        member("g1", "m"),
      ]);
      await s.groupMembers.insertMembers([
        member("g0", "a"),
        member("g2", "a", { role: GroupRole.OWNER }),
      ]);
      expect(
        (await s.groupMembers.selectMembers("g1", ["m", "x", "o"])).map((m) => m.userId).sort(),
      ).toEqual(["m", "o"]);
      expect(
        (await s.groupMembers.selectMembersByRole("g1", [GroupRole.OWNER, GroupRole.ADMIN])).map(
          (m) => m.userId,
        ),
      ).toEqual(["a", "o"]);
      const all = await s.groupMembers.selectMembershipsOfUser("a", "", 10);
      expect(all.map((m) => m.groupId)).toEqual(["g0", "g1", "g2"]);
      expect(
        (await s.groupMembers.selectMembershipsOfUser("a", "g0", 1)).map((m) => m.groupId),
      ).toEqual(["g1"]);
      const managed = await s.groupMembers.selectMembershipsOfUser("a", "", 10, [
        GroupRole.OWNER,
        GroupRole.ADMIN,
      ]);
      expect(managed.map((m) => m.groupId)).toEqual(["g1", "g2"]);
    });

    it("deletes members, reporting only those that were members", async () => {
      await s.groupMembers.insertMembers([member("g", "a"), member("g", "b"), member("h", "a")]);
      expect(await s.groupMembers.deleteMembers("g", ["x", "a"])).toEqual(["a"]);
      expect(await s.groupMembers.selectMember("h", "a")).toBeDefined();
      await s.groupMembers.deleteAllMembers("g");
      expect(await s.groupMembers.selectMembersPage("g", "", 10)).toEqual([]);
      expect(await s.groupMembers.selectMember("h", "a")).toBeDefined();
    });

    it("updates role, profile (partial, fields set/deleted), read seq (never down) and last send", async () => {
      await s.groupMembers.insertMembers([member("g", "u", { customFields: { A: bytes("1") } })]);
      expect(await s.groupMembers.updateMemberRole("g", "u", GroupRole.ADMIN)).toBe(true);
      expect(await s.groupMembers.updateMemberRole("g", "x", GroupRole.ADMIN)).toBe(false);
      const after = await s.groupMembers.updateMemberProfile("g", "u", {
        nameCard: "nc",
        customFields: { A: null, B: bytes("2") },
      });
      expect(after).toMatchObject({ role: GroupRole.ADMIN, nameCard: "nc" });
      expect(after?.customFields).toEqual({ B: bytes("2") });
      expect(
        (
          await s.groupMembers.updateMemberProfile("g", "u", {
            receiveOption: MessageReceiveOption.DISCARD,
          })
        )?.nameCard,
      ).toBe("nc");
      expect(await s.groupMembers.updateMemberProfile("g", "x", { nameCard: "a" })).toBeUndefined();
      expect(await s.groupMembers.updateMemberReadSeq("g", "u", 7)).toEqual({
        before: 0,
        after: 7,
      });
      expect(await s.groupMembers.updateMemberReadSeq("g", "u", 3)).toEqual({
        before: 7,
        after: 7,
      });
      expect(await s.groupMembers.updateMemberReadSeq("g", "x", 3)).toBeUndefined();
      await s.groupMembers.updateMemberLastSend("g", "u", 4242);
      await s.groupMembers.updateMemberLastSend("g", "x", 4242);
      expect((await s.groupMembers.selectMember("g", "u"))?.lastSendTimeMs).toBe(4242);
    });

    it("keeps mutes apart from memberships: they survive leaving and rejoining", async () => {
      await s.groupMembers.insertMembers([member("g", "u")]);
      await s.groupMembers.upsertMutes("g", ["u", "v"], 9000);
      await s.groupMembers.deleteMembers("g", ["u"]);
      await s.groupMembers.insertMembers([member("g", "u")]);
      expect(await s.groupMembers.selectMutes("g", ["u", "v", "w"])).toEqual(
        new Map([
          ["u", 9000],
          ["v", 9000],
        ]),
      );
      await s.groupMembers.upsertMutes("g", ["u"], 12000);
      await s.groupMembers.upsertMutes("g", ["v"], 0);
      expect(await s.groupMembers.selectMutes("g", ["u", "v"])).toEqual(new Map([["u", 12000]]));
      await s.groupMembers.deleteGroupMutes("g");
      expect((await s.groupMembers.selectMutes("g", ["u"])).size).toBe(0);
    });
  });

  describe("JoinApplicationStore", () => {
    const app = (groupId: string, applicantUserId: string, appliedAtMs: number, message = "") => ({
      groupId,
      applicantUserId,
      message,
      appliedAtMs,
    });

    it("creates, renews, counts per applicant and lists newest first", async () => {
      expect(await s.groupApplications.upsertJoinApplication(app("g1", "u", 1))).toBe("created");
      expect(await s.groupApplications.upsertJoinApplication(app("g2", "u", 2))).toBe("created");
      expect(await s.groupApplications.upsertJoinApplication(app("g1", "v", 3))).toBe("created");
      expect(await s.groupApplications.upsertJoinApplication(app("g1", "u", 4, "again"))).toBe(
        "renewed",
      );
      expect(await s.groupApplications.countJoinApplicationsOf("u")).toBe(2);
      expect(await s.groupApplications.countJoinApplicationsOf("nobody")).toBe(0);
      const listed = await s.groupApplications.selectJoinApplications(["g1", "g3"], 10);
      expect(listed).toEqual([app("g1", "u", 4, "again"), app("g1", "v", 3)]);
      expect(await s.groupApplications.selectJoinApplications(["g1", "g2"], 1)).toEqual([
        app("g1", "u", 4, "again"),
      ]);
      expect(await s.groupApplications.selectJoinApplications([], 10)).toEqual([]);
    });

    it("hands an application to exactly one of two concurrent takers", async () => {
      await s.groupApplications.upsertJoinApplication(app("g", "u", 1));
      const [a, b] = await Promise.all([
        s.groupApplications.takeJoinApplication("g", "u"),
        s.groupApplications.takeJoinApplication("g", "u"),
      ]);
      expect([a, b].filter((x) => x !== undefined)).toEqual([app("g", "u", 1)]);
      expect(await s.groupApplications.takeJoinApplication("g", "u")).toBeUndefined();
    });

    it("deletes a group's applications only", async () => {
      await s.groupApplications.upsertJoinApplication(app("g", "u", 1));
      await s.groupApplications.upsertJoinApplication(app("h", "u", 1));
      await s.groupApplications.deleteGroupJoinApplications("g");
      expect(await s.groupApplications.countJoinApplicationsOf("u")).toBe(1);
    });
  });
}
