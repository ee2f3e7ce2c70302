import { describe, expect, it } from "vitest";
import { ApplyJoinOption, GroupType, MessageReceiveOption } from "../../src/gen/im/v1/group_pb.js";
import { readGroupConfig } from "../../src/groups/config.js";
import {
  ACTORS,
  type Actor,
  GROUP_TYPES,
  isAllowed,
  OPERATIONS,
  type Operation,
  TYPE_TRAITS,
} from "../../src/groups/group-types.js";

// The reference's tables transcribed independently of src/groups/group-types.ts:
// X = app admin, O = owner, A = admin, M = member, N = non-member; the letters
// listed may perform the operation. Columns: Work, Public, Meeting, AVChatRoom, Community.
const EXPECTED: Record<Operation, [string, string, string, string, string]> = {
  viewProfile: ["XOAM", "XOAM", "XOAM", "XOAM", "XOAM"],
  viewPublicProfile: ["", "N", "N", "N", "N"],
  modifyBasicProfile: ["XOAM", "XOA", "XO", "XO", "XOA"],
  modifyAdvancedProfile: ["XO", "XOA", "XO", "XO", "XOA"],
  modifyApplyJoinOption: ["", "XOA", "XO", "XO", "X"],
  listMembers: ["XOAM", "XOAM", "XOAM", "", "XOAM"],
  invite: ["XOAM", "X", "X", "", "XOAM"],
  apply: ["", "N", "N", "N", "N"],
  handleApplications: ["", "XOA", "XOA", "XO", "XOA"],
  quit: ["OAM", "AM", "AM", "M", "AM"],
  removeMember: ["XO", "XOA", "XOA", "", "XOA"],
  removeAdmin: ["", "XO", "XO", "", "XO"],
  setAdmin: ["", "XO", "XO", "", "XO"],
  transferOwner: ["XO", "XO", "XO", "XO", "XO"],
  muteMember: ["", "XOA", "XOA", "XO", "XOA"],
  muteAdmin: ["", "XO", "XO", "", "XO"],
  modifyMemberProfile: ["XO", "XOA", "XOA", "", "XOA"],
  modifyOwnMemberProfile: ["OAM", "OAM", "OAM", "", "OAM"],
  sendMessage: ["XOAM", "XOAM", "XOAM", "XOAM", "XOAM"],
  recallOthersMessage: ["XO", "XOA", "XOA", "", "XOA"],
  readHistory: ["XOAM", "XOAM", "XOAM", "", "XOAM"],
  disband: ["X", "XO", "XO", "XO", "XO"],
};

const LETTER: Record<Actor, string> = {
  appAdmin: "X",
  owner: "O",
  admin: "A",
  member: "M",
  nonMember: "N",
};

const cases = GROUP_TYPES.flatMap((type, column) =>
  OPERATIONS.flatMap((op) =>
    ACTORS.map((actor) => ({
      type: GroupType[type],
      typeValue: type,
      op,
      actor,
      allowed: EXPECTED[op][column]?.includes(LETTER[actor]) ?? false,
    })),
  ),
);

describe("permission matrix", () => {
  it("covers every type x operation x role", () => {
    expect(cases).toHaveLength(5 * OPERATIONS.length * 5);
    expect(Object.keys(EXPECTED).sort()).toEqual([...OPERATIONS].sort());
  });

  it.each(cases)("$type $op by $actor: $allowed", ({ typeValue, op, actor, allowed }) => {
    expect(isAllowed(typeValue, op, actor)).toBe(allowed);
  });

  it("allows nothing for an unspecified type", () => {
    for (const op of OPERATIONS)
      for (const a of ACTORS) expect(isAllowed(GroupType.UNSPECIFIED, op, a)).toBe(false);
  });

  it("lets the app admin do whatever the owner may (except quitting a group it is not in)", () => {
    for (const type of GROUP_TYPES) {
      for (const op of OPERATIONS) {
        if (op === "quit" || op === "modifyOwnMemberProfile") continue;
        if (isAllowed(type, op, "owner"))
          expect(isAllowed(type, op, "appAdmin"), `${type} ${op}`).toBe(true);
      }
    }
  });
});

describe("type defaults", () => {
  const T = TYPE_TRAITS;
  it.each([
    // type, admins, member list, apply option, owner may quit, history, pre-join, activation, muting, unread, receive, limit
    [
      GroupType.WORK,
      false,
      true,
      ApplyJoinOption.DISABLE_APPLY,
      false,
      true,
      false,
      true,
      false,
      true,
      MessageReceiveOption.ACCEPT_AND_NOTIFY,
      2000,
    ],
    [
      GroupType.PUBLIC,
      true,
      true,
      ApplyJoinOption.NEED_PERMISSION,
      false,
      true,
      false,
      false,
      true,
      true,
      MessageReceiveOption.ACCEPT_AND_NOTIFY,
      2000,
    ],
    [
      GroupType.MEETING,
      true,
      true,
      ApplyJoinOption.FREE_ACCESS,
      false,
      true,
      true,
      false,
      true,
      false,
      MessageReceiveOption.ACCEPT_NOT_NOTIFY,
      2000,
    ],
    [
      GroupType.AV_CHAT_ROOM,
      false,
      false,
      ApplyJoinOption.FREE_ACCESS,
      false,
      false,
      false,
      false,
      true,
      false,
      MessageReceiveOption.ACCEPT_NOT_NOTIFY,
      0,
    ],
    [
      GroupType.COMMUNITY,
      true,
      true,
      ApplyJoinOption.FREE_ACCESS,
      false,
      true,
      true,
      false,
      true,
      true,
      MessageReceiveOption.ACCEPT_AND_NOTIFY,
      100_000,
    ],
  ] as const)(
    "%s",
    (type, admins, list, apply, _ownerQuit, history, preJoin, activation, muting, unread, receive, limit) => {
      expect(T[type]).toMatchObject({
        hasAdmins: admins,
        memberList: list,
        defaultApplyJoinOption: apply,
        inviteNeedsConfirmation: false,
        storesHistory: history,
        preJoinHistory: preJoin,
        needsActivation: activation,
        mutingSupported: muting,
        unreadCounts: unread,
        defaultReceiveOption: receive,
        memberLimit: limit,
      });
      // Only a Work owner may quit (the matrix says so; the trait table agrees).
      expect(isAllowed(type, "quit", "owner")).toBe(type === GroupType.WORK);
    },
  );

  it.each([
    // member change, profile change, mute-all/apply change, member profile (mute/admin) change
    [GroupType.WORK, "store", "store", "off", "store"],
    [GroupType.PUBLIC, "store", "store", "off", "store"],
    [GroupType.MEETING, "off", "store", "off", "off"],
    [GroupType.AV_CHAT_ROOM, "notify", "notify", "off", "off"],
    [GroupType.COMMUNITY, "store", "store", "off", "store"],
  ] as const)("%s tips", (type, member, profile, groupMute, memberProfile) => {
    expect(T[type]).toMatchObject({
      memberChangeTips: member,
      profileChangeTips: profile,
      groupMuteTips: groupMute,
      memberProfileChangeTips: memberProfile,
    });
  });
});

describe("group config", () => {
  it("uses the reference defaults", () => {
    const c = readGroupConfig({});
    expect(c.traits[GroupType.COMMUNITY].memberLimit).toBe(100_000);
    expect([
      c.messagesPerSecond,
      c.pendingApplicationsMax,
      c.addMembersMax,
      c.duplicateWindowMs,
    ]).toEqual([40, 50, 100, 300_000]);
    expect(c.groupFields.size).toBe(0);
  });

  it("overrides per-type settings and parses custom field levels", () => {
    const c = readGroupConfig({
      GROUP_WORK_MEMBER_LIMIT: "200",
      GROUP_PUBLIC_PREJOIN_HISTORY: "true",
      GROUP_MEETING_MEMBER_CHANGE_TIPS: "notify",
      GROUP_CUSTOM_FIELDS: "Level:anyone:appAdmin, Note:member:admin",
      GROUP_MEMBER_CUSTOM_FIELDS: "Rank:member:owner",
      GROUP_MESSAGE_RATE_MAX: "10",
    });
    expect(c.traits[GroupType.WORK].memberLimit).toBe(200);
    expect(c.traits[GroupType.PUBLIC].preJoinHistory).toBe(true);
    expect(c.traits[GroupType.MEETING].memberChangeTips).toBe("notify");
    expect(c.groupFields.get("Note")).toEqual({ read: "member", write: "admin" });
    expect(c.memberFields.get("Rank")).toEqual({ read: "member", write: "owner" });
    expect(c.messagesPerSecond).toBe(10);
    // The base table is not mutated by overrides.
    expect(TYPE_TRAITS[GroupType.WORK].memberLimit).toBe(2000);
  });

  it.each([
    [{ GROUP_AVCHATROOM_MEMBER_CHANGE_TIPS: "store" }, "GROUP_AVCHATROOM_MEMBER_CHANGE_TIPS"],
    [{ GROUP_WORK_MEMBER_LIMIT: "0" }, "GROUP_WORK_MEMBER_LIMIT"],
    [{ GROUP_CUSTOM_FIELDS: "Bad-Key:anyone:owner" }, "GROUP_CUSTOM_FIELDS"],
    [{ GROUP_CUSTOM_FIELDS: "K:anyone:god" }, "GROUP_CUSTOM_FIELDS"],
    [
      { GROUP_MEMBER_CUSTOM_FIELDS: "A:a:a,B:a:a,C:a:a,D:a:a,E:a:a,F:a:a" },
      "GROUP_MEMBER_CUSTOM_FIELDS",
    ],
  ])("rejects %o", (env, setting) => {
    expect(() => readGroupConfig(env)).toThrow(setting);
  });
});
