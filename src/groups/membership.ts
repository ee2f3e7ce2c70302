import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import { assertUserIdBatch } from "../common/user-id.js";
import {
  DomainError,
  ErrorReason,
  invalidField,
  permissionDenied,
} from "../errors/domain-error.js";
import {
  ApplyJoinOption,
  GroupRole,
  GroupTipType,
  type JoinApplication,
  JoinApplicationResult,
  JoinApplicationSchema,
} from "../gen/im/v1/group_pb.js";
import {
  GroupAfterMemberExitEventSchema,
  GroupMemberExitType,
  GroupMemberJoinType,
} from "../gen/im/v1/webhook_pb.js";
import { requireAllowed } from "./actor.js";
import { admitMembers } from "./admit.js";
import type { GroupContext } from "./context.js";
import { isAllowed } from "./group-types.js";
import { assertText, LIMITS } from "./limits.js";
import type { GroupRecord } from "./store.js";

/** Most groups scanned for "every group I may approve for". */
const MANAGED_GROUPS_SCAN = 1000;

/** Invite/add, apply and approve, remove and quit. */
export function createMembership(ctx: GroupContext) {
  const { deps } = ctx;
  const { config } = deps;

  const toProto = (a: {
    groupId: string;
    applicantUserId: string;
    message: string;
    appliedAtMs: number;
  }) => create(JoinApplicationSchema, { ...a, appliedAtMs: BigInt(a.appliedAtMs) });

  return {
    async addMembers(caller: Caller, groupId: string, userIds: readonly string[]) {
      const ids = assertUserIdBatch(userIds, "user_ids", config.addMembersMax);
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "invite", actor);
      await ctx.requireAccounts(ids, "user_ids");
      return admitMembers(
        ctx,
        group,
        ids,
        caller.isAdmin ? GroupMemberJoinType.ADMIN_ADD : GroupMemberJoinType.INVITE,
        caller.userId,
      );
    },

    async applyJoin(
      caller: Caller,
      groupId: string,
      message: string,
    ): Promise<JoinApplicationResult> {
      assertText(message, "message", LIMITS.applicationMessageBytes);
      const { group, actor } = await ctx.load(caller, groupId);
      if (actor !== "nonMember" && (await deps.members.selectMember(groupId, caller.userId))) {
        throw new DomainError(
          "already-exists",
          ErrorReason.ALREADY_GROUP_MEMBER,
          "you are already a member",
        );
      }
      // An app admin applies as the user it is: what matters here is membership.
      requireAllowed(group, "apply", "nonMember");
      switch (group.applyJoinOption) {
        case ApplyJoinOption.FREE_ACCESS: {
          const { added } = await admitMembers(
            ctx,
            group,
            [caller.userId],
            GroupMemberJoinType.APPLY,
            caller.userId,
          );
          if (added.length === 0) {
            throw new DomainError(
              "already-exists",
              ErrorReason.ALREADY_GROUP_MEMBER,
              "you are already a member",
            );
          }
          return JoinApplicationResult.JOINED;
        }
        case ApplyJoinOption.NEED_PERMISSION: {
          const application = {
            groupId,
            applicantUserId: caller.userId,
            message,
            appliedAtMs: deps.clock(),
          };
          const pending = await deps.applications.countJoinApplicationsOf(caller.userId);
          if (pending >= config.pendingApplicationsMax) {
            // Renewing one already counted is fine; a new one would exceed the limit.
            const mine = await deps.applications.selectJoinApplications(
              [groupId],
              config.pendingApplicationsMax,
            );
            if (!mine.some((a) => a.applicantUserId === caller.userId)) {
              throw new DomainError(
                "resource-exhausted",
                ErrorReason.TOO_MANY_JOIN_APPLICATIONS,
                `at most ${config.pendingApplicationsMax} pending applications`,
              );
            }
          }
          await deps.applications.upsertJoinApplication(application);
          const approvers = await deps.members.selectMembersByRole(groupId, [
            GroupRole.OWNER,
            GroupRole.ADMIN,
          ]);
          deps.notifier.application(
            approvers.map((m) => m.userId),
            toProto(application),
          );
          return JoinApplicationResult.PENDING;
        }
        default:
          throw permissionDenied(
            ErrorReason.GROUP_APPLY_DISABLED,
            "the group does not accept applications",
          );
      }
    },

    async listApplications(caller: Caller, groupId: string): Promise<JoinApplication[]> {
      let groupIds: string[];
      if (groupId !== "") {
        const { group, actor } = await ctx.load(caller, groupId);
        requireAllowed(group, "handleApplications", actor);
        groupIds = [groupId];
      } else {
        if (caller.isAdmin) throw invalidField("group_id", "an app admin must name a group");
        const managed = await deps.members.selectMembershipsOfUser(
          caller.userId,
          "",
          MANAGED_GROUPS_SCAN,
          [GroupRole.OWNER, GroupRole.ADMIN],
        );
        groupIds = managed.map((m) => m.groupId);
      }
      const applications = await deps.applications.selectJoinApplications(
        groupIds,
        config.pendingApplicationsMax,
      );
      return applications.map(toProto);
    },

    async handleApplication(
      caller: Caller,
      groupId: string,
      applicant: string,
      approve: boolean,
    ): Promise<void> {
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "handleApplications", actor);
      const application = await deps.applications.takeJoinApplication(groupId, applicant);
      if (application === undefined) {
        throw new DomainError(
          "not-found",
          ErrorReason.JOIN_APPLICATION_NOT_FOUND,
          "no such pending application",
          {
            field: "applicant_user_id",
          },
        );
      }
      if (!approve) {
        deps.notifier.tipTo(
          group,
          {
            type: GroupTipType.APPLICATION_REJECTED,
            operatorUserId: caller.userId,
            userIds: [applicant],
          },
          [applicant],
        );
        return;
      }
      try {
        await admitMembers(ctx, group, [applicant], GroupMemberJoinType.APPLY, caller.userId);
      } catch (err) {
        // Full: the application stays pending so it can be approved once there is room.
        if (err instanceof DomainError && err.reason === ErrorReason.GROUP_FULL) {
          await deps.applications.upsertJoinApplication(application);
        }
        throw err;
      }
    },

    async removeMembers(
      caller: Caller,
      groupId: string,
      userIds: readonly string[],
    ): Promise<string[]> {
      const ids = assertUserIdBatch(userIds, "user_ids", config.removeMembersMax);
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "removeMember", actor);
      if (ids.includes(caller.userId) && !caller.isAdmin)
        throw invalidField("user_ids", "use QuitGroup to leave");
      const targets = await deps.members.selectMembers(groupId, ids);
      // Check every target before removing any: all or nothing.
      for (const t of targets) {
        if (t.role === GroupRole.OWNER) {
          throw permissionDenied(
            ErrorReason.GROUP_PERMISSION_DENIED,
            "the owner cannot be removed; transfer first",
          );
        }
        if (t.role === GroupRole.ADMIN) requireAllowed(group, "removeAdmin", actor);
      }
      const removed = await deps.members.deleteMembers(
        groupId,
        targets.map((t) => t.userId),
      );
      await afterExit(
        group,
        removed,
        GroupTipType.MEMBERS_KICKED,
        GroupMemberExitType.KICKED,
        caller.userId,
      );
      return removed;
    },

    async quit(caller: Caller, groupId: string): Promise<void> {
      const { group, member } = await ctx.load(caller, groupId);
      if (member === undefined) {
        throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
      }
      const actor =
        member.role === GroupRole.OWNER
          ? "owner"
          : member.role === GroupRole.ADMIN
            ? "admin"
            : "member";
      if (!isAllowed(group.type, "quit", actor)) {
        throw new DomainError(
          "failed-precondition",
          ErrorReason.OWNER_CANNOT_QUIT,
          "the owner cannot quit; transfer the group first",
        );
      }
      const removed = await deps.members.deleteMembers(groupId, [caller.userId]);
      if (removed.length === 0) return;
      if (member.role === GroupRole.OWNER)
        await deps.groups.updateGroupOwner(groupId, "", deps.clock());
      await afterExit(
        group,
        removed,
        GroupTipType.MEMBERS_QUIT,
        GroupMemberExitType.QUIT,
        caller.userId,
      );
    },
  };

  async function afterExit(
    group: GroupRecord,
    removed: string[],
    tipType: GroupTipType,
    exitType: GroupMemberExitType,
    operatorUserId: string,
  ): Promise<void> {
    if (removed.length === 0) return;
    deps.notifier.followers(group, removed, false);
    if (ctx.traitsOf(group).memberList)
      await deps.groups.releaseMemberSlots(group.groupId, removed.length);
    // The leavers are told too, though they are no longer members.
    deps.notifier.tip(
      group,
      { type: tipType, operatorUserId, userIds: removed },
      ctx.traitsOf(group).memberChangeTips,
      { alsoTo: removed },
    );
    deps.webhooks.notifyGroupChange({
      case: "groupAfterMemberExit",
      value: create(GroupAfterMemberExitEventSchema, {
        groupId: group.groupId,
        exitType,
        operatorAccount: operatorUserId,
        memberAccounts: removed,
      }),
    });
  }
}
