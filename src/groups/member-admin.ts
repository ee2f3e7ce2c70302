import type { Caller } from "../auth/caller.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { assertUserId, assertUserIdBatch } from "../common/user-id.js";
import { ErrorReason, invalidField, permissionDenied } from "../errors/domain-error.js";
import {
  type GroupMember,
  GroupRole,
  GroupTipType,
  MessageReceiveOption,
  type ModifyGroupMemberRequest,
} from "../gen/im/v1/group_pb.js";
import { ACTOR_RANK, requireAllowed, requireMember, roleActor, typeUnsupported } from "./actor.js";
import type { GroupContext } from "./context.js";
import { memberToProto } from "./convert.js";
import { customFieldChanges } from "./custom-fields.js";
import type { Actor } from "./group-types.js";
import { memberNotFound } from "./lifecycle.js";
import { assertText, LIMITS } from "./limits.js";
import type { GroupMemberPatch, GroupMemberRecord } from "./store.js";

const MEMBERS_PAGE = { fallback: 100, max: 100 };
const GET_MEMBERS_MAX = 100;

type ModifyMemberInput = Pick<
  ModifyGroupMemberRequest,
  "groupId" | "userId" | "nameCard" | "receiveOption" | "customFields"
>;

/** Member list and profiles, roles, mutes. */
export function createMemberAdmin(ctx: GroupContext) {
  const { deps } = ctx;
  const { config } = deps;

  const withMutes = async (groupId: string, records: GroupMemberRecord[], reader: Actor) => {
    const mutes = await ctx.runningMutes(
      groupId,
      records.map((m) => m.userId),
    );
    return records.map((m) => memberToProto(m, mutes.get(m.userId) ?? 0, reader, config));
  };

  return {
    async listMembers(
      caller: Caller,
      groupId: string,
      page: { pageSize: number; cursor: string } | undefined,
    ): Promise<{ members: GroupMember[]; nextCursor: string }> {
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "listMembers", actor);
      const size = pageSize(page?.pageSize ?? 0, MEMBERS_PAGE.fallback, MEMBERS_PAGE.max);
      const after = decodeCursor(page?.cursor ?? "", { u: "string" })?.u ?? "";
      const records = await deps.members.selectMembersPage(groupId, after, size);
      const last = records.at(-1);
      return {
        members: await withMutes(groupId, records, actor),
        nextCursor:
          last !== undefined && records.length === size ? encodeCursor({ u: last.userId }) : "",
      };
    },

    /** Anyone in the group may read their own membership, even where the list is closed. */
    async getMembers(
      caller: Caller,
      groupId: string,
      userIds: readonly string[],
    ): Promise<GroupMember[]> {
      const ids = assertUserIdBatch(userIds, "user_ids", GET_MEMBERS_MAX);
      const { group, actor, member } = await ctx.load(caller, groupId);
      const onlySelf = ids.length === 1 && ids[0] === caller.userId && member !== undefined;
      if (!onlySelf) requireAllowed(group, "listMembers", actor);
      const found = new Map(
        (await deps.members.selectMembers(groupId, ids)).map((m) => [m.userId, m]),
      );
      const ordered = ids.flatMap((id) => {
        const m = found.get(id);
        return m === undefined ? [] : [m];
      });
      return withMutes(groupId, ordered, onlySelf ? roleActor(member?.role) : actor);
    },

    async setRole(caller: Caller, groupId: string, userId: string, role: GroupRole): Promise<void> {
      assertUserId(userId, "user_id");
      if (role !== GroupRole.ADMIN && role !== GroupRole.MEMBER)
        throw invalidField("role", "ADMIN or MEMBER");
      const { group, actor } = await ctx.load(caller, groupId);
      requireAllowed(group, "setAdmin", actor);
      const target = await deps.members.selectMember(groupId, userId);
      if (target === undefined) throw memberNotFound("user_id");
      if (target.role === GroupRole.OWNER) {
        throw permissionDenied(
          ErrorReason.GROUP_PERMISSION_DENIED,
          "the owner's role cannot be changed",
        );
      }
      if (target.role === role) return;
      await deps.members.updateMemberRole(groupId, userId, role);
      deps.notifier.tip(
        group,
        {
          type: role === GroupRole.ADMIN ? GroupTipType.ADMINS_SET : GroupTipType.ADMINS_UNSET,
          operatorUserId: caller.userId,
          userIds: [userId],
        },
        ctx.traitsOf(group).memberProfileChangeTips,
      );
    },

    async mute(
      caller: Caller,
      groupId: string,
      userIds: readonly string[],
      muteSeconds: number,
    ): Promise<number> {
      const ids = assertUserIdBatch(userIds, "user_ids", config.removeMembersMax);
      const { group, actor, traits } = await ctx.load(caller, groupId);
      if (!traits.mutingSupported) {
        requireMember(actor);
        throw typeUnsupported("muting");
      }
      requireAllowed(group, "muteMember", actor);
      // Non-members may be muted too: the mute then holds if they join.
      for (const t of await deps.members.selectMembers(groupId, ids)) {
        if (t.role === GroupRole.OWNER) {
          throw permissionDenied(ErrorReason.GROUP_PERMISSION_DENIED, "the owner cannot be muted");
        }
        if (t.role === GroupRole.ADMIN) requireAllowed(group, "muteAdmin", actor);
      }
      const until = muteSeconds === 0 ? 0 : deps.clock() + muteSeconds * 1000;
      await deps.members.upsertMutes(groupId, ids, until);
      deps.notifier.tip(
        group,
        {
          type: GroupTipType.MEMBERS_MUTED,
          operatorUserId: caller.userId,
          userIds: ids,
          mutedUntilMs: BigInt(until),
        },
        ctx.traitsOf(group).memberProfileChangeTips,
      );
      return until;
    },

    async modifyMember(caller: Caller, input: ModifyMemberInput): Promise<GroupMember> {
      const targetId = input.userId === "" ? caller.userId : input.userId;
      assertUserId(targetId, "user_id");
      const { group, actor, member } = await ctx.load(caller, input.groupId);
      const self = targetId === caller.userId;
      const target = self ? member : await deps.members.selectMember(input.groupId, targetId);
      let writer: Actor;
      if (self && !caller.isAdmin) {
        requireAllowed(group, "modifyOwnMemberProfile", actor);
        writer = actor;
      } else {
        requireAllowed(group, "modifyMemberProfile", actor);
        if (target === undefined) throw memberNotFound("user_id");
        // Admins manage ordinary members only; nobody but the app admin edits the owner.
        if (ACTOR_RANK[roleActor(target.role)] >= ACTOR_RANK[actor]) {
          throw permissionDenied(
            ErrorReason.GROUP_PERMISSION_DENIED,
            "you may not change this member",
          );
        }
        writer = actor;
      }
      if (target === undefined) throw memberNotFound("user_id");
      const patch: GroupMemberPatch = {};
      if (input.nameCard !== undefined) {
        assertText(input.nameCard, "name_card", LIMITS.nameCardBytes);
        patch.nameCard = input.nameCard;
      }
      if (input.receiveOption !== MessageReceiveOption.UNSPECIFIED) {
        if (!self)
          throw invalidField("receive_option", "only the member may change their receive option");
        if (!(input.receiveOption in MessageReceiveOption))
          throw invalidField("receive_option", "unknown option");
        patch.receiveOption = input.receiveOption;
      }
      const fields = customFieldChanges(
        input.customFields,
        config.memberFields,
        writer,
        LIMITS.memberFieldValueBytes,
      );
      if (fields !== undefined) patch.customFields = fields;
      const updated = await deps.members.updateMemberProfile(input.groupId, targetId, patch);
      if (updated === undefined) throw memberNotFound("user_id");
      if (patch.receiveOption !== undefined) {
        deps.notifier.receiveOptionChanged(group, targetId, updated.receiveOption);
      }
      const [proto] = await withMutes(
        input.groupId,
        [updated],
        self ? roleActor(updated.role) : actor,
      );
      return proto as GroupMember;
    },
  };
}
