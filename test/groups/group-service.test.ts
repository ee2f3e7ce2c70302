import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import {
  ApplyJoinOption,
  GroupRole,
  GroupTipType,
  GroupType,
  JoinApplicationResult,
  MessageReceiveOption,
} from "../../src/gen/im/v1/group_pb.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { failureOf } from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import { type GroupStream, groupClients, openGroupStream } from "./support.js";

const USERS = ["alice", "bob", "carol", "dave", "erin", "frank"];
const enc = (s: string) => new TextEncoder().encode(s);

// The same flows on the embedded default and on MongoDB (FerretDB here).
describe.each([
  ["memory", () => ({})],
  ["mongodb", () => ({ MONGO_URL: testMongoUrl(), MONGO_DATABASE: uniqueName("groups") })],
])("GroupService on %s", (_backend, env) => {
  let app: TestApp;
  let c: Awaited<ReturnType<typeof groupClients>>;
  let n = 0;
  const gid = (prefix: string) => `${prefix}-${++n}`;

  beforeAll(async () => {
    app = await startTestApp({
      ...env(),
      GROUP_PUBLIC_MEMBER_LIMIT: "4",
      GROUP_PENDING_APPLICATIONS_MAX: "2",
      GROUP_CUSTOM_FIELDS: "Level:anyone:appAdmin,Topic:member:admin,Secret:admin:owner",
      GROUP_MEMBER_CUSTOM_FIELDS: "Title:member:member,Rank:member:admin",
    });
    c = await groupClients(app, USERS);
  });
  afterAll(() => app?.close());

  const create = (owner: string, type: GroupType, groupId: string, members: string[] = []) =>
    c.as(owner).createGroup({ type, name: "group", groupId, memberUserIds: members });

  describe("create", () => {
    it("creates with a custom id, rejects a taken or reserved one, and generates ids", async () => {
      const id = gid("custom id.with $ymbols");
      const { group } = await create("alice", GroupType.PUBLIC, id, ["bob"]);
      expect(group).toMatchObject({
        groupId: id,
        ownerUserId: "alice",
        memberCount: 2,
        maxMemberCount: 4,
        applyJoinOption: ApplyJoinOption.NEED_PERMISSION,
        active: true,
      });
      const taken = await failureOf(create("bob", GroupType.PUBLIC, id));
      expect([taken.code, taken.reason]).toEqual([Code.AlreadyExists, ErrorReason.GROUP_ID_TAKEN]);
      const reserved = await failureOf(create("bob", GroupType.PUBLIC, "@TGS#mine"));
      expect(reserved.reason).toBe(ErrorReason.INVALID_GROUP_ID);
      const long = await failureOf(create("bob", GroupType.PUBLIC, "x".repeat(49)));
      expect(long.reason).toBe(ErrorReason.INVALID_GROUP_ID);
      const generated = (await create("bob", GroupType.MEETING, "")).group;
      expect(generated?.groupId).toMatch(/^@TGS#[A-Z2-7]{16}$/);
      const community = (await create("bob", GroupType.COMMUNITY, "")).group;
      expect(community?.groupId).toMatch(/^@TGS#_/);
    });

    it("validates type, name, members and the member limit", async () => {
      expect((await failureOf(create("alice", GroupType.UNSPECIFIED, gid("t")))).field).toBe(
        "type",
      );
      const longName = await failureOf(
        c.as("alice").createGroup({ type: GroupType.WORK, name: "x".repeat(31) }),
      );
      expect([longName.reason, longName.field]).toEqual([ErrorReason.INVALID_FIELD, "name"]);
      const ghost = await failureOf(create("alice", GroupType.WORK, gid("w"), ["nobody"]));
      expect([ghost.reason, ghost.field]).toEqual([
        ErrorReason.GROUP_USER_NOT_FOUND,
        "member_user_ids[0]",
      ]);
      const full = await failureOf(
        create("alice", GroupType.PUBLIC, gid("p"), ["bob", "carol", "dave", "erin"]),
      );
      expect(full.reason).toBe(ErrorReason.GROUP_FULL);
      const av = await failureOf(create("alice", GroupType.AV_CHAT_ROOM, gid("av"), ["bob"]));
      expect(av.reason).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
    });

    it("tells the owner and initial members on their live streams", async () => {
      const bob = await openGroupStream(app, "bob");
      try {
        const id = gid("created");
        await create("alice", GroupType.COMMUNITY, id, ["bob"]);
        const tip = await bob.waitForTip(id, GroupTipType.CREATED);
        expect(tip.tip?.operatorUserId).toBe("alice");
      } finally {
        bob.close();
      }
    });

    it("lets an app admin create a group for an owner, or with none", async () => {
      const id = gid("admin-made");
      const { group } = await c.admin.createGroup({
        type: GroupType.PUBLIC,
        name: "x",
        groupId: id,
        ownerUserId: "carol",
      });
      expect(group?.ownerUserId).toBe("carol");
      const none = await c.admin.createGroup({
        type: GroupType.MEETING,
        name: "x",
        groupId: gid("ownerless"),
      });
      expect(none.group).toMatchObject({ ownerUserId: "", memberCount: 0 });
    });
  });

  describe("profile", () => {
    it("shows members everything and non-members the public part; Work groups not at all", async () => {
      const id = gid("pub");
      await create("alice", GroupType.PUBLIC, id, ["bob"]);
      await c.as("alice").modifyGroup({ groupId: id, notification: "members only" });
      const asMember = await c.as("bob").getGroup({ groupId: id });
      expect(asMember).toMatchObject({ callerRole: GroupRole.MEMBER });
      expect(asMember.group?.notification).toBe("members only");
      const asStranger = await c.as("carol").getGroup({ groupId: id });
      expect(asStranger.callerRole).toBe(GroupRole.UNSPECIFIED);
      expect(asStranger.group).toMatchObject({
        name: "group",
        notification: "",
        nextMessageSeq: 0n,
      });
      const work = gid("work");
      await create("alice", GroupType.WORK, work);
      expect((await failureOf(c.as("carol").getGroup({ groupId: work }))).reason).toBe(
        ErrorReason.NOT_GROUP_MEMBER,
      );
      expect((await failureOf(c.as("carol").getGroup({ groupId: "missing" }))).reason).toBe(
        ErrorReason.GROUP_NOT_FOUND,
      );
    });

    it("hides an unactivated Work group from members but its owner", async () => {
      const id = gid("work-inactive");
      await create("alice", GroupType.WORK, id, ["bob"]);
      expect((await failureOf(c.as("bob").getGroup({ groupId: id }))).reason).toBe(
        ErrorReason.GROUP_NOT_FOUND,
      );
      expect((await c.as("alice").getGroup({ groupId: id })).group?.active).toBe(false);
      const bobs = await c.as("bob").listJoinedGroups({});
      expect(bobs.groups.map((g) => g.group?.groupId)).not.toContain(id);
      const alices = await c.as("alice").listJoinedGroups({});
      expect(alices.groups.map((g) => g.group?.groupId)).toContain(id);
    });

    it("applies the type's modify permissions and the reference's length limits", async () => {
      const work = gid("work-mod");
      await create("alice", GroupType.WORK, work, ["bob"]);
      // A Work member may change name, introduction, notification and face URL ...
      await c.as("bob").modifyGroup({ groupId: work, name: "renamed by bob" });
      // ... but nothing else.
      const mute = await failureOf(c.as("alice").modifyGroup({ groupId: work, muteAll: true }));
      expect(mute.reason).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
      const pub = gid("pub-mod");
      await create("alice", GroupType.PUBLIC, pub, ["bob"]);
      const denied = await failureOf(c.as("bob").modifyGroup({ groupId: pub, name: "x" }));
      expect([denied.code, denied.reason]).toEqual([
        Code.PermissionDenied,
        ErrorReason.GROUP_PERMISSION_DENIED,
      ]);
      for (const [field, over] of [
        ["name", { name: "x".repeat(31) }],
        ["introduction", { introduction: "x".repeat(241) }],
        ["notification", { notification: "x".repeat(301) }],
        ["face_url", { faceUrl: "x".repeat(101) }],
      ] as const) {
        const f = await failureOf(c.as("alice").modifyGroup({ groupId: pub, ...over }));
        expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_FIELD, field]);
      }
      const ok = await c.as("alice").modifyGroup({
        groupId: pub,
        introduction: "i".repeat(240),
        muteAll: true,
        applyJoinOption: ApplyJoinOption.FREE_ACCESS,
      });
      expect(ok.group).toMatchObject({
        muteAll: true,
        applyJoinOption: ApplyJoinOption.FREE_ACCESS,
        infoSeq: 1n,
      });
    });

    it("tells members about profile changes", async () => {
      const id = gid("tips-profile");
      await create("alice", GroupType.PUBLIC, id, ["bob"]);
      const bob = await openGroupStream(app, "bob");
      try {
        await c.as("alice").modifyGroup({ groupId: id, name: "new name" });
        const tip = await bob.waitForTip(id, GroupTipType.PROFILE_CHANGED);
        expect(tip.tip?.profileChange?.name).toBe("new name");
      } finally {
        bob.close();
      }
    });

    it("enforces custom field read and write levels", async () => {
      const id = gid("fields");
      await create("alice", GroupType.PUBLIC, id, ["bob"]);
      await c.as("alice").setGroupMemberRole({ groupId: id, userId: "bob", role: GroupRole.ADMIN });
      const level = await failureOf(
        c
          .as("alice")
          .modifyGroup({ groupId: id, customFields: [{ key: "Level", value: enc("9") }] }),
      );
      expect([level.reason, level.field]).toEqual([
        ErrorReason.GROUP_PERMISSION_DENIED,
        "custom_fields[0].key",
      ]);
      await c.admin.modifyGroup({ groupId: id, customFields: [{ key: "Level", value: enc("9") }] });
      await c
        .as("bob")
        .modifyGroup({ groupId: id, customFields: [{ key: "Topic", value: enc("t") }] });
      await c
        .as("alice")
        .modifyGroup({ groupId: id, customFields: [{ key: "Secret", value: enc("s") }] });
      const unknown = await failureOf(
        c
          .as("alice")
          .modifyGroup({ groupId: id, customFields: [{ key: "Nope", value: enc("x") }] }),
      );
      expect(unknown.reason).toBe(ErrorReason.UNKNOWN_CUSTOM_FIELD);
      const tooBig = await failureOf(
        c.admin.modifyGroup({
          groupId: id,
          customFields: [{ key: "Level", value: new Uint8Array(513) }],
        }),
      );
      expect(tooBig.field).toBe("custom_fields[0].value");
      const keys = async (user: string) =>
        ((await c.as(user).getGroup({ groupId: id })).group?.customFields ?? []).map((f) => f.key);
      expect(await keys("carol")).toEqual(["Level"]);
      await c
        .as("alice")
        .addGroupMembers({ groupId: id, userIds: ["dave"] })
        .catch(() => {});
      await c.admin.addGroupMembers({ groupId: id, userIds: ["dave"] });
      expect(await keys("dave")).toEqual(["Level", "Topic"]);
      expect(await keys("bob")).toEqual(["Level", "Secret", "Topic"]);
      // An empty value deletes the key.
      await c.admin.modifyGroup({
        groupId: id,
        customFields: [{ key: "Level", value: new Uint8Array() }],
      });
      expect(await keys("carol")).toEqual([]);
    });
  });

  describe("joining", () => {
    it("Public: apply, approvers are told, approve and reject, pending limit", async () => {
      const id = gid("apply");
      await create("alice", GroupType.PUBLIC, id, ["bob"]);
      await c.as("alice").setGroupMemberRole({ groupId: id, userId: "bob", role: GroupRole.ADMIN });
      const alice = await openGroupStream(app, "alice");
      const carol = await openGroupStream(app, "carol");
      try {
        expect((await c.as("carol").applyJoinGroup({ groupId: id, message: "hi" })).result).toBe(
          JoinApplicationResult.PENDING,
        );
        const event = await alice.waitFor((e) => e.event.case === "joinApplication");
        expect(event.event.value).toMatchObject({
          groupId: id,
          applicantUserId: "carol",
          message: "hi",
        });
        expect(
          (await c.as("bob").listJoinApplications({ groupId: id })).applications.map(
            (a) => a.applicantUserId,
          ),
        ).toEqual(["carol"]);
        expect(
          (await c.as("alice").listJoinApplications({})).applications.map((a) => a.groupId),
        ).toContain(id);
        const notApprover = await failureOf(c.as("dave").listJoinApplications({ groupId: id }));
        expect(notApprover.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
        await c
          .as("bob")
          .handleJoinApplication({ groupId: id, applicantUserId: "carol", approve: true });
        await carol.waitForTip(id, GroupTipType.MEMBERS_JOINED);
        expect((await c.as("carol").getGroup({ groupId: id })).callerRole).toBe(GroupRole.MEMBER);
        const again = await failureOf(
          c
            .as("bob")
            .handleJoinApplication({ groupId: id, applicantUserId: "carol", approve: true }),
        );
        expect(again.reason).toBe(ErrorReason.JOIN_APPLICATION_NOT_FOUND);
        const member = await failureOf(c.as("carol").applyJoinGroup({ groupId: id }));
        expect(member.reason).toBe(ErrorReason.ALREADY_GROUP_MEMBER);

        await c.as("dave").applyJoinGroup({ groupId: id });
        await c
          .as("alice")
          .handleJoinApplication({ groupId: id, applicantUserId: "dave", approve: false });
        expect(
          (await failureOf(c.as("dave").getGroupMembers({ groupId: id, userIds: ["dave"] })))
            .reason,
        ).toBe(ErrorReason.NOT_GROUP_MEMBER);
      } finally {
        alice.close();
        carol.close();
      }
      // At most GROUP_PENDING_APPLICATIONS_MAX (2 here) pending per applicant.
      const more = [gid("p1"), gid("p2"), gid("p3")];
      for (const g of more) await create("alice", GroupType.PUBLIC, g);
      await c.as("erin").applyJoinGroup({ groupId: more[0] as string });
      await c.as("erin").applyJoinGroup({ groupId: more[1] as string });
      await c.as("erin").applyJoinGroup({ groupId: more[1] as string, message: "renewed" });
      const tooMany = await failureOf(c.as("erin").applyJoinGroup({ groupId: more[2] as string }));
      expect([tooMany.code, tooMany.reason]).toEqual([
        Code.ResourceExhausted,
        ErrorReason.TOO_MANY_JOIN_APPLICATIONS,
      ]);
    });

    it("Meeting, Community and AVChatRoom admit applicants at once; Work takes no applications", async () => {
      for (const type of [GroupType.MEETING, GroupType.COMMUNITY, GroupType.AV_CHAT_ROOM]) {
        const id = gid(`free-${type}`);
        await create("alice", type, id);
        expect((await c.as("bob").applyJoinGroup({ groupId: id })).result).toBe(
          JoinApplicationResult.JOINED,
        );
        expect((await c.as("bob").getGroup({ groupId: id })).callerRole).toBe(GroupRole.MEMBER);
      }
      const work = gid("work-apply");
      await create("alice", GroupType.WORK, work);
      const f = await failureOf(c.as("bob").applyJoinGroup({ groupId: work }));
      expect([f.code, f.reason]).toEqual([
        Code.FailedPrecondition,
        ErrorReason.GROUP_TYPE_UNSUPPORTED,
      ]);
      const disabled = gid("disabled");
      await create("alice", GroupType.MEETING, disabled);
      await c
        .as("alice")
        .modifyGroup({ groupId: disabled, applyJoinOption: ApplyJoinOption.DISABLE_APPLY });
      expect((await failureOf(c.as("bob").applyJoinGroup({ groupId: disabled }))).reason).toBe(
        ErrorReason.GROUP_APPLY_DISABLED,
      );
    });

    it("invite: Work and Community members invite; Public only the app admin; AVChatRoom nobody", async () => {
      const work = gid("inv-work");
      await create("alice", GroupType.WORK, work, ["bob"]);
      expect(
        await c.as("bob").addGroupMembers({ groupId: work, userIds: ["carol", "alice"] }),
      ).toMatchObject({
        addedUserIds: ["carol"],
        existingUserIds: ["alice"],
      });
      const pub = gid("inv-pub");
      await create("alice", GroupType.PUBLIC, pub);
      expect(
        (await failureOf(c.as("alice").addGroupMembers({ groupId: pub, userIds: ["bob"] }))).reason,
      ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
      await c.admin.addGroupMembers({ groupId: pub, userIds: ["bob", "carol", "dave"] });
      // Limit 4 for Public in this test config.
      const full = await failureOf(c.admin.addGroupMembers({ groupId: pub, userIds: ["erin"] }));
      expect([full.code, full.reason]).toEqual([Code.ResourceExhausted, ErrorReason.GROUP_FULL]);
      const av = gid("inv-av");
      await create("alice", GroupType.AV_CHAT_ROOM, av);
      expect(
        (await failureOf(c.admin.addGroupMembers({ groupId: av, userIds: ["bob"] }))).reason,
      ).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
    });
  });

  describe("leaving and roles", () => {
    it("remove: admins remove ordinary members only, nobody removes the owner; the removed are told", async () => {
      const id = gid("remove");
      await create("alice", GroupType.COMMUNITY, id, ["bob", "carol", "dave"]);
      await c.as("alice").setGroupMemberRole({ groupId: id, userId: "bob", role: GroupRole.ADMIN });
      await c
        .as("alice")
        .setGroupMemberRole({ groupId: id, userId: "carol", role: GroupRole.ADMIN });
      const dave = await openGroupStream(app, "dave");
      try {
        expect(
          (await failureOf(c.as("bob").removeGroupMembers({ groupId: id, userIds: ["carol"] })))
            .reason,
        ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
        expect(
          (await failureOf(c.as("bob").removeGroupMembers({ groupId: id, userIds: ["alice"] })))
            .reason,
        ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
        expect(
          (await c.as("bob").removeGroupMembers({ groupId: id, userIds: ["dave", "erin"] }))
            .removedUserIds,
        ).toEqual(["dave"]);
        await dave.waitForTip(id, GroupTipType.MEMBERS_KICKED);
        expect(
          (await c.as("alice").removeGroupMembers({ groupId: id, userIds: ["carol"] }))
            .removedUserIds,
        ).toEqual(["carol"]);
        expect((await c.as("alice").getGroup({ groupId: id })).group?.memberCount).toBe(2);
      } finally {
        dave.close();
      }
    });

    it("quit: a Public owner may not; a Work owner may, leaving the group ownerless", async () => {
      const pub = gid("quit-pub");
      await create("alice", GroupType.PUBLIC, pub, ["bob"]);
      expect((await failureOf(c.as("alice").quitGroup({ groupId: pub }))).reason).toBe(
        ErrorReason.OWNER_CANNOT_QUIT,
      );
      await c.as("bob").quitGroup({ groupId: pub });
      expect((await failureOf(c.as("bob").quitGroup({ groupId: pub }))).reason).toBe(
        ErrorReason.NOT_GROUP_MEMBER,
      );
      const work = gid("quit-work");
      await create("alice", GroupType.WORK, work, ["bob"]);
      await c.as("alice").quitGroup({ groupId: work });
      const g = await c.admin.getGroup({ groupId: work });
      expect(g.group).toMatchObject({ ownerUserId: "", memberCount: 1 });
    });

    it("transfer owner and set/unset admin, per type", async () => {
      const id = gid("transfer");
      await create("alice", GroupType.PUBLIC, id, ["bob", "carol"]);
      expect(
        (await failureOf(c.as("bob").transferGroupOwner({ groupId: id, newOwnerUserId: "bob" })))
          .reason,
      ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
      expect(
        (await failureOf(c.as("alice").transferGroupOwner({ groupId: id, newOwnerUserId: "erin" })))
          .reason,
      ).toBe(ErrorReason.GROUP_MEMBER_NOT_FOUND);
      await c.as("alice").transferGroupOwner({ groupId: id, newOwnerUserId: "bob" });
      const members = await c.as("bob").getGroupMembers({ groupId: id, userIds: ["alice", "bob"] });
      expect(members.members.map((m) => [m.userId, m.role])).toEqual([
        ["alice", GroupRole.MEMBER],
        ["bob", GroupRole.OWNER],
      ]);
      await c.as("bob").setGroupMemberRole({ groupId: id, userId: "carol", role: GroupRole.ADMIN });
      expect(
        (
          await failureOf(
            c
              .as("carol")
              .setGroupMemberRole({ groupId: id, userId: "alice", role: GroupRole.ADMIN }),
          )
        ).reason,
      ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
      await c.admin.setGroupMemberRole({ groupId: id, userId: "carol", role: GroupRole.MEMBER });
      const work = gid("work-admin");
      await create("alice", GroupType.WORK, work, ["bob"]);
      expect(
        (
          await failureOf(
            c
              .as("alice")
              .setGroupMemberRole({ groupId: work, userId: "bob", role: GroupRole.ADMIN }),
          )
        ).reason,
      ).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
    });

    it("mute until a time survives leaving and rejoining; admins cannot mute admins", async () => {
      const id = gid("mute");
      await create("alice", GroupType.MEETING, id, ["bob", "carol"]);
      await c
        .as("alice")
        .setGroupMemberRole({ groupId: id, userId: "carol", role: GroupRole.ADMIN });
      const bob = await openGroupStream(app, "bob");
      try {
        const { mutedUntilMs } = await c
          .as("carol")
          .muteGroupMembers({ groupId: id, userIds: ["bob"], muteSeconds: 600 });
        expect(Number(mutedUntilMs)).toBeGreaterThan(Date.now() + 590_000);
        // Meeting groups do not announce member mutes by default; the owner-set
        // admin change above was not announced either.
        expect(
          (
            await failureOf(
              c.as("carol").muteGroupMembers({ groupId: id, userIds: ["alice"], muteSeconds: 60 }),
            )
          ).reason,
        ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
        await c.as("bob").quitGroup({ groupId: id });
        await c.as("bob").applyJoinGroup({ groupId: id });
        const [me] = (await c.as("bob").getGroupMembers({ groupId: id, userIds: ["bob"] })).members;
        expect(me?.mutedUntilMs).toBe(mutedUntilMs);
        await c.as("alice").muteGroupMembers({ groupId: id, userIds: ["bob"], muteSeconds: 0 });
        const [after] = (await c.as("bob").getGroupMembers({ groupId: id, userIds: ["bob"] }))
          .members;
        expect(after?.mutedUntilMs).toBe(0n);
        expect(bob.groupMessages().some((m) => m.tip?.type === GroupTipType.MEMBERS_MUTED)).toBe(
          false,
        );
      } finally {
        bob.close();
      }
      const work = gid("mute-work");
      await create("alice", GroupType.WORK, work, ["bob"]);
      expect(
        (
          await failureOf(
            c.as("alice").muteGroupMembers({ groupId: work, userIds: ["bob"], muteSeconds: 5 }),
          )
        ).reason,
      ).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
    });

    it("member profile: name card, own receive option, member custom fields", async () => {
      const id = gid("member-profile");
      await create("alice", GroupType.COMMUNITY, id, ["bob"]);
      const { member } = await c.as("bob").modifyGroupMember({
        groupId: id,
        nameCard: "Bobby",
        receiveOption: MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT,
        customFields: [{ key: "Title", value: enc("dr") }],
      });
      expect(member).toMatchObject({
        nameCard: "Bobby",
        receiveOption: MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT,
      });
      expect(
        (await failureOf(c.as("bob").modifyGroupMember({ groupId: id, nameCard: "x".repeat(51) })))
          .field,
      ).toBe("name_card");
      expect(
        (
          await failureOf(
            c
              .as("bob")
              .modifyGroupMember({ groupId: id, customFields: [{ key: "Rank", value: enc("1") }] }),
          )
        ).reason,
      ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
      await c.as("alice").modifyGroupMember({
        groupId: id,
        userId: "bob",
        customFields: [{ key: "Rank", value: enc("1") }],
      });
      expect(
        (
          await failureOf(
            c.as("alice").modifyGroupMember({
              groupId: id,
              userId: "bob",
              receiveOption: MessageReceiveOption.DISCARD,
            }),
          )
        ).field,
      ).toBe("receive_option");
      expect(
        (
          await failureOf(
            c.as("bob").modifyGroupMember({ groupId: id, userId: "alice", nameCard: "x" }),
          )
        ).reason,
      ).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
      const [seen] = (await c.as("alice").getGroupMembers({ groupId: id, userIds: ["bob"] }))
        .members;
      expect(seen?.customFields.map((f) => f.key)).toEqual(["Rank", "Title"]);
    });
  });

  describe("lists", () => {
    it("pages members in user id order; AVChatRoom has no member list", async () => {
      const id = gid("list");
      await create("frank", GroupType.WORK, id, ["alice", "bob", "carol", "dave", "erin"]);
      const seen: string[] = [];
      let cursor = "";
      do {
        const page = await c
          .as("alice")
          .listGroupMembers({ groupId: id, page: { pageSize: 2, cursor } });
        seen.push(...page.members.map((m) => m.userId));
        cursor = page.page?.nextCursor ?? "";
      } while (cursor !== "");
      expect(seen).toEqual(["alice", "bob", "carol", "dave", "erin", "frank"]);
      const bad = await failureOf(
        c.as("alice").listGroupMembers({ groupId: id, page: { cursor: "zz" } }),
      );
      expect(bad.reason).toBe(ErrorReason.INVALID_CURSOR);
      const av = gid("list-av");
      await create("alice", GroupType.AV_CHAT_ROOM, av);
      await c.as("bob").applyJoinGroup({ groupId: av });
      expect((await failureOf(c.as("alice").listGroupMembers({ groupId: av }))).reason).toBe(
        ErrorReason.GROUP_TYPE_UNSUPPORTED,
      );
      // ... but a member may read their own membership.
      expect(
        (await c.as("bob").getGroupMembers({ groupId: av, userIds: ["bob"] })).members,
      ).toHaveLength(1);
    });

    it("lists a user's groups with their membership; an app admin may list anyone's", async () => {
      const ids = [gid("mine-a"), gid("mine-b")];
      for (const id of ids) await create("frank", GroupType.MEETING, id, ["erin"]);
      const all: string[] = [];
      let cursor = "";
      do {
        const page = await c.as("erin").listJoinedGroups({ page: { pageSize: 1, cursor } });
        all.push(...page.groups.map((g) => g.group?.groupId ?? ""));
        for (const g of page.groups) expect(g.self?.userId).toBe("erin");
        cursor = page.page?.nextCursor ?? "";
      } while (cursor !== "");
      expect(all).toEqual(expect.arrayContaining(ids));
      const byAdmin = await c.admin.listJoinedGroups({ userId: "erin" });
      expect(byAdmin.groups.map((g) => g.group?.groupId)).toEqual(expect.arrayContaining(ids));
    });
  });

  describe("disband", () => {
    it("tells every member, then the group is gone; a Work owner may not, the app admin may", async () => {
      const id = gid("disband");
      await create("alice", GroupType.PUBLIC, id, ["bob"]);
      const streams: GroupStream[] = [
        await openGroupStream(app, "alice"),
        await openGroupStream(app, "bob"),
      ];
      try {
        expect((await failureOf(c.as("bob").disbandGroup({ groupId: id }))).reason).toBe(
          ErrorReason.GROUP_PERMISSION_DENIED,
        );
        await c.as("alice").disbandGroup({ groupId: id });
        for (const s of streams) await s.waitForTip(id, GroupTipType.DISBANDED);
      } finally {
        for (const s of streams) s.close();
      }
      expect((await failureOf(c.as("alice").getGroup({ groupId: id }))).reason).toBe(
        ErrorReason.GROUP_NOT_FOUND,
      );
      expect(
        (await c.as("bob").listJoinedGroups({})).groups.map((g) => g.group?.groupId),
      ).not.toContain(id);
      // The id is free again.
      await create("bob", GroupType.PUBLIC, id);

      const work = gid("disband-work");
      await create("alice", GroupType.WORK, work);
      expect((await failureOf(c.as("alice").disbandGroup({ groupId: work }))).reason).toBe(
        ErrorReason.GROUP_PERMISSION_DENIED,
      );
      await c.admin.disbandGroup({ groupId: work });
    });
  });

  it("lets the app admin act as owner without being a member", async () => {
    const id = gid("admin-acts");
    await create("alice", GroupType.COMMUNITY, id, ["bob"]);
    await c.admin.setGroupMemberRole({ groupId: id, userId: "bob", role: GroupRole.ADMIN });
    await c.admin.muteGroupMembers({ groupId: id, userIds: ["bob"], muteSeconds: 60 });
    await c.admin.transferGroupOwner({ groupId: id, newOwnerUserId: "bob" });
    expect((await c.admin.getGroup({ groupId: id })).group?.ownerUserId).toBe("bob");
    expect((await c.admin.listGroupMembers({ groupId: id })).members.map((m) => m.userId)).toEqual([
      "alice",
      "bob",
    ]);
    expect(ADMIN).not.toBe("bob");
  });
});
