import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { assertUserId } from "../common/user-id.js";
import {
  DomainError,
  ErrorReason,
  invalidArgument,
  invalidField,
  notFound,
  permissionDenied,
} from "../errors/domain-error.js";
import {
  ApplyJoinOption,
  type CreateGroupRequest,
  type Group,
  GroupRole,
  GroupTipType,
  GroupType,
  type JoinedGroup,
  JoinedGroupSchema,
  type ModifyGroupRequest,
} from "../gen/im/v1/group_pb.js";
import {
  GroupAfterCreateEventSchema,
  GroupAfterDisbandEventSchema,
} from "../gen/im/v1/webhook_pb.js";
import { requireAllowed, roleActor, typeUnsupported } from "./actor.js";
import { groupFull } from "./admit.js";
import type { GroupContext } from "./context.js";
import { groupToProto, memberToProto } from "./convert.js";
import { customFieldChanges, initialValues } from "./custom-fields.js";
import { assertCustomGroupId } from "./group-id.js";
import { isAllowed, type TipPolicy } from "./group-types.js";
import { assertText, LIMITS } from "./limits.js";
import type { GroupMemberRecord, GroupProfilePatch, GroupRecord } from "./store.js";

type CreateInput = Pick<
  CreateGroupRequest,
  | "type"
  | "name"
  | "groupId"
  | "ownerUserId"
  | "memberUserIds"
  | "introduction"
  | "notification"
  | "faceUrl"
  | "applyJoinOption"
  | "maxMemberCount"
  | "customFields"
>;

type ModifyInput = Pick<
  ModifyGroupRequest,
  | "groupId"
  | "name"
  | "introduction"
  | "notification"
  | "faceUrl"
  | "applyJoinOption"
  | "muteAll"
  | "customFields"
>;

const JOINED_PAGE = { fallback: 100, max: 100 };
const GENERATED_ID_ATTEMPTS = 5;

/** Create, profile, joined-group list, owner transfer and disband. */
export function createLifecycle(ctx: GroupContext) {
  const { deps } = ctx;
  const { config } = deps;

  return {
    async createGroup(caller: Caller, input: CreateInput): Promise<Group> {
      const traits = config.traits[input.type];
      if (
        input.type === GroupType.UNSPECIFIED ||
        traits === undefined ||
        !(input.type in GroupType)
      ) {
        throw invalidField("type", "a group type is required");
      }
      assertText(input.name, "name", LIMITS.nameBytes, true);
      assertText(input.introduction, "introduction", LIMITS.introductionBytes);
      assertText(input.notification, "notification", LIMITS.notificationBytes);
      assertText(input.faceUrl, "face_url", LIMITS.faceUrlBytes);
      if (input.groupId !== "") assertCustomGroupId(input.groupId);

      const owner = caller.isAdmin ? input.ownerUserId : caller.userId;
      if (owner !== "") assertUserId(owner, "owner_user_id");
      const creator = caller.isAdmin ? "appAdmin" : "owner";
      if (input.memberUserIds.length > config.addMembersMax) {
        throw invalidArgument(
          ErrorReason.TOO_MANY_ITEMS,
          `at most ${config.addMembersMax} initial members`,
          {
            field: "member_user_ids",
          },
        );
      }
      input.memberUserIds.forEach((id, i) => {
        assertUserId(id, `member_user_ids[${i}]`);
      });
      const others = [...new Set(input.memberUserIds)].filter((id) => id !== owner);
      if (others.length > 0 && !traits.memberList) throw typeUnsupported("initial members");

      let applyJoinOption = input.applyJoinOption;
      if (
        applyJoinOption === ApplyJoinOption.UNSPECIFIED ||
        applyJoinOption === traits.defaultApplyJoinOption
      ) {
        applyJoinOption = traits.defaultApplyJoinOption;
      } else if (!(applyJoinOption in ApplyJoinOption)) {
        throw invalidField("apply_join_option", "unknown option");
      } else {
        requireAllowed(stub(input.type), "modifyApplyJoinOption", creator);
      }
      if (traits.memberLimit > 0 && input.maxMemberCount > traits.memberLimit) {
        throw invalidField("max_member_count", `at most ${traits.memberLimit} for this type`);
      }
      const maxMemberCount = input.maxMemberCount === 0 ? traits.memberLimit : input.maxMemberCount;
      const memberCount = traits.memberList ? others.length + (owner === "" ? 0 : 1) : 0;
      if (maxMemberCount > 0 && memberCount > maxMemberCount) throw groupFull();
      const fields = customFieldChanges(
        input.customFields,
        config.groupFields,
        creator,
        LIMITS.groupFieldValueBytes,
      );
      if (owner !== "") await ctx.requireAccounts([owner], "owner_user_id");
      await ctx.requireAccounts(input.memberUserIds, "member_user_ids");

      const now = deps.clock();
      const base: Omit<GroupRecord, "groupId"> = {
        type: input.type,
        name: input.name,
        introduction: input.introduction,
        notification: input.notification,
        faceUrl: input.faceUrl,
        ownerUserId: owner,
        createdAtMs: now,
        infoSeq: 0,
        lastInfoTimeMs: now,
        lastMessageTimeMs: 0,
        lastSeq: 0,
        memberCount,
        maxMemberCount,
        applyJoinOption,
        muteAll: false,
        customFields: initialValues(fields),
        active: !traits.needsActivation,
      };
      const group = await insertWithId(input.groupId, base);

      const member = (userId: string, role: GroupRole): GroupMemberRecord => ({
        groupId: group.groupId,
        userId,
        role,
        joinedAtMs: now,
        joinSeq: 0,
        readSeq: 0,
        receiveOption: traits.defaultReceiveOption,
        lastSendTimeMs: 0,
        nameCard: "",
        customFields: {},
      });
      await deps.members.insertMembers([
        ...(owner === "" ? [] : [member(owner, GroupRole.OWNER)]),
        ...others.map((id) => member(id, GroupRole.MEMBER)),
      ]);
      deps.notifier.followers(group, owner === "" ? others : [owner, ...others], true);
      // Every device of the creator and the initial members learns of the group at once.
      deps.notifier.tipTo(
        group,
        { type: GroupTipType.CREATED, operatorUserId: caller.userId, userIds: others },
        owner === "" ? others : [owner, ...others],
      );
      deps.webhooks.notifyGroupChange({
        case: "groupAfterCreate",
        value: create(GroupAfterCreateEventSchema, {
          groupId: group.groupId,
          name: group.name,
          ownerAccount: owner,
          operatorAccount: caller.userId,
          memberAccounts: others,
        }),
      });
      return groupToProto(group, creator, config);
    },

    async getGroup(
      caller: Caller,
      groupId: string,
    ): Promise<{ group: Group; callerRole: GroupRole }> {
      const { group, actor, member } = await ctx.load(caller, groupId);
      if (actor !== "nonMember") requireAllowed(group, "viewProfile", actor);
      else if (!isAllowed(group.type, "viewPublicProfile", actor)) {
        // Work groups cannot be looked up by outsiders at all.
        throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
      }
      hideInactive(group, member, caller.isAdmin);
      return {
        group: groupToProto(group, actor, config),
        callerRole: member?.role ?? GroupRole.UNSPECIFIED,
      };
    },

    async modifyGroup(caller: Caller, input: ModifyInput): Promise<Group> {
      const { group, actor, traits } = await ctx.load(caller, input.groupId);
      const patch: GroupProfilePatch = {};
      const basic = ["name", "introduction", "notification", "faceUrl"] as const;
      const limits = {
        name: LIMITS.nameBytes,
        introduction: LIMITS.introductionBytes,
        notification: LIMITS.notificationBytes,
        faceUrl: LIMITS.faceUrlBytes,
      };
      for (const key of basic) {
        const value = input[key];
        if (value === undefined) continue;
        assertText(value, key === "faceUrl" ? "face_url" : key, limits[key], key === "name");
        patch[key] = value;
      }
      if (Object.keys(patch).length > 0) requireAllowed(group, "modifyBasicProfile", actor);
      if (input.muteAll !== undefined) {
        requireAllowed(group, "modifyAdvancedProfile", actor);
        if (!traits.mutingSupported) throw typeUnsupported("mute-all");
        patch.muteAll = input.muteAll;
      }
      if (input.applyJoinOption !== ApplyJoinOption.UNSPECIFIED) {
        if (!(input.applyJoinOption in ApplyJoinOption))
          throw invalidField("apply_join_option", "unknown option");
        requireAllowed(group, "modifyApplyJoinOption", actor);
        patch.applyJoinOption = input.applyJoinOption;
      }
      const fields = customFieldChanges(
        input.customFields,
        config.groupFields,
        actor,
        LIMITS.groupFieldValueBytes,
      );
      if (fields !== undefined) {
        if (actor === "nonMember") requireAllowed(group, "viewProfile", actor);
        patch.customFields = fields;
      }
      if (Object.keys(patch).length === 0) return groupToProto(group, actor, config);

      const updated = await deps.groups.updateGroupProfile(group.groupId, patch, deps.clock());
      if (updated === undefined) throw groupGone();
      announceProfileChange(updated, caller.userId, patch);
      return groupToProto(updated, actor, config);
    },

    async listJoinedGroups(
      caller: Caller,
      input: { userId: string; page?: { pageSize: number; cursor: string } | undefined },
    ): Promise<{ groups: JoinedGroup[]; nextCursor: string }> {
      if (input.userId !== "") assertUserId(input.userId, "user_id");
      if (!caller.isAdmin && input.userId !== "" && input.userId !== caller.userId) {
        throw permissionDenied(
          ErrorReason.ADMIN_REQUIRED,
          "only administrators list another user's groups",
          { field: "user_id" },
        );
      }
      const userId = input.userId === "" ? caller.userId : input.userId;
      const size = pageSize(input.page?.pageSize ?? 0, JOINED_PAGE.fallback, JOINED_PAGE.max);
      const after = decodeCursor(input.page?.cursor ?? "", { g: "string" })?.g ?? "";
      const memberships = await deps.members.selectMembershipsOfUser(userId, after, size);
      const records = new Map(
        (await deps.groups.selectGroups(memberships.map((m) => m.groupId))).map((g) => [
          g.groupId,
          g,
        ]),
      );
      const mutes = new Map<string, number>();
      await Promise.all(
        memberships.map(async (m) => {
          const until = (await ctx.runningMutes(m.groupId, [userId])).get(userId);
          if (until !== undefined) mutes.set(m.groupId, until);
        }),
      );
      const shown = memberships.flatMap((member) => {
        const group = records.get(member.groupId);
        // A membership can outlive a group being disbanded by moments; skip it.
        return group === undefined || isHidden(group, member) ? [] : [{ group, member }];
      });
      const states = await deps.readStatesOf(userId, shown);
      const groups = shown.map(({ group: g, member: m }, i) => {
        const actor = roleActor(m.role);
        const state = states[i];
        return create(JoinedGroupSchema, {
          group: groupToProto(g, actor, config),
          self: memberToProto(m, mutes.get(m.groupId) ?? 0, actor, config),
          unreadCount: state?.unreadCount ?? 0,
          mentionedMe: state?.me ?? false,
          mentionedAll: state?.all ?? false,
        });
      });
      const last = memberships.at(-1);
      return {
        groups,
        nextCursor:
          last !== undefined && memberships.length === size
            ? encodeCursor({ g: last.groupId })
            : "",
      };
    },

    async transferOwner(caller: Caller, groupId: string, newOwner: string): Promise<void> {
      assertUserId(newOwner, "new_owner_user_id");
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "transferOwner", actor);
      if (newOwner === group.ownerUserId) return;
      if ((await deps.members.selectMember(groupId, newOwner)) === undefined)
        throw memberNotFound("new_owner_user_id");
      // Order matters without transactions: the new owner is promoted first, so a
      // crash in between leaves two owners (repairable) rather than none.
      await deps.members.updateMemberRole(groupId, newOwner, GroupRole.OWNER);
      if (!(await deps.groups.updateGroupOwner(groupId, newOwner, deps.clock()))) throw groupGone();
      if (group.ownerUserId !== "") {
        await deps.members.updateMemberRole(groupId, group.ownerUserId, GroupRole.MEMBER);
      }
      deps.notifier.tip(
        group,
        { type: GroupTipType.OWNER_CHANGED, operatorUserId: caller.userId, userIds: [newOwner] },
        ctx.traitsOf(group).profileChangeTips,
      );
    },

    async disbandGroup(caller: Caller, groupId: string): Promise<void> {
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "disband", actor);
      // Tell everyone while the member list still exists, then delete: the group
      // document first, so nothing can join while the rest is removed.
      await deps.notifier.tipAllNow(group, {
        type: GroupTipType.DISBANDED,
        operatorUserId: caller.userId,
      });
      if (!(await deps.groups.deleteGroup(groupId))) throw groupGone();
      await Promise.all([
        deps.members.deleteAllMembers(groupId),
        deps.members.deleteGroupMutes(groupId),
        deps.applications.deleteGroupJoinApplications(groupId),
        deps.deleteHistory?.(groupId),
      ]);
      deps.webhooks.notifyGroupChange({
        case: "groupAfterDisband",
        value: create(GroupAfterDisbandEventSchema, {
          groupId,
          name: group.name,
          ownerAccount: group.ownerUserId,
          operatorAccount: caller.userId,
        }),
      });
    },
  };

  async function insertWithId(
    custom: string,
    base: Omit<GroupRecord, "groupId">,
  ): Promise<GroupRecord> {
    if (custom !== "") {
      const group = { ...base, groupId: custom };
      if (!(await deps.groups.insertGroup(group))) {
        throw new DomainError(
          "already-exists",
          ErrorReason.GROUP_ID_TAKEN,
          "the group id is taken",
          {
            field: "group_id",
          },
        );
      }
      return group;
    }
    for (let attempt = 0; attempt < GENERATED_ID_ATTEMPTS; attempt++) {
      const group = { ...base, groupId: deps.newGroupId(base.type) };
      if (await deps.groups.insertGroup(group)) return group;
    }
    throw new Error("could not generate an unused group id");
  }

  /** One tip per change, carrying the fields whose policy is not "off"; stored if any says so. */
  function announceProfileChange(
    group: GroupRecord,
    operatorUserId: string,
    patch: GroupProfilePatch,
  ): void {
    const traits = ctx.traitsOf(group);
    const { muteAll, applyJoinOption, customFields, ...basic } = patch;
    const change: Record<string, unknown> = {};
    const policies: TipPolicy[] = [];
    if (Object.keys(basic).length > 0 || customFields !== undefined) {
      if (traits.profileChangeTips !== "off") {
        Object.assign(change, basic);
        if (customFields !== undefined) change.customFieldKeys = Object.keys(customFields);
        policies.push(traits.profileChangeTips);
      }
    }
    if (
      (muteAll !== undefined || applyJoinOption !== undefined) &&
      traits.groupMuteTips !== "off"
    ) {
      if (muteAll !== undefined) change.muteAll = muteAll;
      if (applyJoinOption !== undefined) change.applyJoinOption = applyJoinOption;
      policies.push(traits.groupMuteTips);
    }
    if (policies.length === 0) return;
    deps.notifier.tip(
      group,
      { type: GroupTipType.PROFILE_CHANGED, operatorUserId, profileChange: change },
      policies.includes("store") ? "store" : "notify",
    );
  }
}

/** A record with only a type, for matrix checks before the group exists. */
const stub = (type: GroupType): GroupRecord => ({ type }) as GroupRecord;

/** An inactive group is invisible to every member but its owner (and app admins). */
const isHidden = (g: GroupRecord, m: GroupMemberRecord | undefined): boolean =>
  !g.active && m?.role !== GroupRole.OWNER;

function hideInactive(g: GroupRecord, m: GroupMemberRecord | undefined, isAdmin: boolean): void {
  if (!isAdmin && isHidden(g, m)) {
    throw notFound(ErrorReason.GROUP_NOT_FOUND, "the group does not exist", { field: "group_id" });
  }
}

export const groupGone = (): DomainError =>
  notFound(ErrorReason.GROUP_NOT_FOUND, "the group no longer exists", { field: "group_id" });

export const memberNotFound = (field: string): DomainError =>
  notFound(ErrorReason.GROUP_MEMBER_NOT_FOUND, "the user is not a member of the group", { field });
