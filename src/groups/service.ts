import type { ServiceImpl } from "@connectrpc/connect";
import { requireCaller } from "../auth/caller.js";
import { enumFromRequest } from "../common/proto-enum.js";
import {
  ApplyJoinOptionSchema,
  GroupRoleSchema,
  type GroupService,
  GroupTypeSchema,
  MessageReceiveOptionSchema,
} from "../gen/im/v1/group_pb.js";
import type { Groups } from "./groups.js";

/** The group-message RPCs, served by src/conversations/group. */
export type GroupMessagingHandlers = Pick<
  ServiceImpl<typeof GroupService>,
  | "sendGroupMessage"
  | "sendGroupSystemMessage"
  | "syncGroupMessages"
  | "listGroupMessages"
  | "markGroupRead"
>;

/** GroupService over Connect: proto in, domain call, proto out. */
export function createGroupService(
  groups: Groups,
  messaging: GroupMessagingHandlers,
): ServiceImpl<typeof GroupService> {
  return {
    async createGroup(req, ctx) {
      enumFromRequest(GroupTypeSchema, req.type, "type", { required: true });
      enumFromRequest(ApplyJoinOptionSchema, req.applyJoinOption, "apply_join_option");
      return { group: await groups.createGroup(requireCaller(ctx), req) };
    },
    getGroup: (req, ctx) => groups.getGroup(requireCaller(ctx), req.groupId),
    async modifyGroup(req, ctx) {
      enumFromRequest(ApplyJoinOptionSchema, req.applyJoinOption, "apply_join_option");
      return { group: await groups.modifyGroup(requireCaller(ctx), req) };
    },
    async listJoinedGroups(req, ctx) {
      const { groups: list, nextCursor } = await groups.listJoinedGroups(requireCaller(ctx), req);
      return { groups: list, page: { nextCursor } };
    },
    async listGroupMembers(req, ctx) {
      const { members, nextCursor } = await groups.listMembers(
        requireCaller(ctx),
        req.groupId,
        req.page,
      );
      return { members, page: { nextCursor } };
    },
    async getGroupMembers(req, ctx) {
      return { members: await groups.getMembers(requireCaller(ctx), req.groupId, req.userIds) };
    },
    async addGroupMembers(req, ctx) {
      const { added, existing } = await groups.addMembers(
        requireCaller(ctx),
        req.groupId,
        req.userIds,
      );
      return { addedUserIds: added, existingUserIds: existing };
    },
    async applyJoinGroup(req, ctx) {
      return { result: await groups.applyJoin(requireCaller(ctx), req.groupId, req.message) };
    },
    async listJoinApplications(req, ctx) {
      return { applications: await groups.listApplications(requireCaller(ctx), req.groupId) };
    },
    async handleJoinApplication(req, ctx) {
      await groups.handleApplication(
        requireCaller(ctx),
        req.groupId,
        req.applicantUserId,
        req.approve,
      );
      return {};
    },
    async removeGroupMembers(req, ctx) {
      return {
        removedUserIds: await groups.removeMembers(requireCaller(ctx), req.groupId, req.userIds),
      };
    },
    async quitGroup(req, ctx) {
      await groups.quit(requireCaller(ctx), req.groupId);
      return {};
    },
    async transferGroupOwner(req, ctx) {
      await groups.transferOwner(requireCaller(ctx), req.groupId, req.newOwnerUserId);
      return {};
    },
    async setGroupMemberRole(req, ctx) {
      const role = enumFromRequest(GroupRoleSchema, req.role, "role", { required: true });
      await groups.setRole(requireCaller(ctx), req.groupId, req.userId, role);
      return {};
    },
    async muteGroupMembers(req, ctx) {
      const until = await groups.mute(
        requireCaller(ctx),
        req.groupId,
        req.userIds,
        req.muteSeconds,
      );
      return { mutedUntilMs: BigInt(until) };
    },
    async modifyGroupMember(req, ctx) {
      enumFromRequest(MessageReceiveOptionSchema, req.receiveOption, "receive_option");
      return { member: await groups.modifyMember(requireCaller(ctx), req) };
    },
    async disbandGroup(req, ctx) {
      await groups.disbandGroup(requireCaller(ctx), req.groupId);
      return {};
    },
    ...messaging,
  };
}
