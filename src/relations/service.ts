import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin, requireCaller } from "../auth/caller.js";
import { enumFromRequest } from "../common/proto-enum.js";
import { timeMsFromRequest } from "../common/proto-numbers.js";
import type { CustomFieldValue } from "../gen/im/v1/profile_pb.js";
import {
  AddFriendOutcome,
  CheckType,
  CheckTypeSchema,
  RelationCheckResult,
  RelationDirection,
  RelationDirectionSchema,
  type RelationService,
  RequestDirection,
  RequestDirectionSchema,
} from "../gen/im/v1/relation_pb.js";
import type { CustomValue } from "../profiles/custom-fields.js";
import type { CheckResult } from "./check.js";
import { friendToProto, requestToProto } from "./relation-proto.js";
import type { Relations } from "./relations.js";
import type { Direction } from "./store.js";

const CHECK: Record<CheckResult, RelationCheckResult> = {
  "no-relation": RelationCheckResult.NO_RELATION,
  "a-with-b": RelationCheckResult.A_WITH_B,
  "b-with-a": RelationCheckResult.B_WITH_A,
  "both-way": RelationCheckResult.BOTH_WAY,
};

const isBothCheck = (t: CheckType) =>
  enumFromRequest(CheckTypeSchema, t, "check_type") === CheckType.BOTH;
const direction = (d: RelationDirection): Direction =>
  d === RelationDirection.BOTH ? "both" : "single";
const customOf = (
  fields: Record<string, CustomFieldValue>,
): Record<string, CustomValue | undefined> =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.value.value]));
const pageOf = (p: { pageSize: number; cursor: string } | undefined) => ({
  pageSize: p?.pageSize ?? 0,
  cursor: p?.cursor ?? "",
});
const checks = (results: { userId: string; result: CheckResult }[]) => ({
  results: results.map((r) => ({ userId: r.userId, result: CHECK[r.result] })),
});

/** RelationService over Connect: proto in, domain call, proto out. */
export function createRelationService(relations: Relations): ServiceImpl<typeof RelationService> {
  const { friends, lists, blocklist } = relations;
  const actorOf = (ctx: Parameters<typeof requireCaller>[0], asUserId: string) =>
    relations.actor(requireCaller(ctx), asUserId);

  return {
    async addFriend(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const r = await friends.addFriend(actor, {
        toUserId: req.toUserId,
        direction: direction(enumFromRequest(RelationDirectionSchema, req.direction, "direction")),
        remark: req.remark,
        source: req.source,
        wording: req.wording,
        friendLists: req.friendLists,
      });
      return r.outcome === "added"
        ? { outcome: AddFriendOutcome.ADDED, friend: friendToProto(r.friend, r.names) }
        : { outcome: AddFriendOutcome.PENDING, request: requestToProto(r.request, actor, r.names) };
    },
    async acceptFriendRequest(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return friends.acceptFriendRequest(actor, req.fromUserId, {
        addBack: req.addBack,
        remark: req.remark,
        friendLists: req.friendLists,
      });
    },
    async rejectFriendRequest(req, ctx) {
      await friends.rejectFriendRequest(await actorOf(ctx, req.asUserId), req.fromUserId);
      return {};
    },
    async cancelFriendRequest(req, ctx) {
      await friends.cancelFriendRequest(await actorOf(ctx, req.asUserId), req.toUserId);
      return {};
    },
    async listFriendRequests(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const { requests, names } = await friends.listFriendRequests(
        actor,
        enumFromRequest(RequestDirectionSchema, req.direction, "direction") ===
          RequestDirection.OUTGOING
          ? "outgoing"
          : "incoming",
      );
      return { requests: requests.map((r) => requestToProto(r, actor, names)) };
    },
    async importFriends(req, ctx) {
      requireAdmin(ctx);
      const { added, existing } = await friends.importFriends(
        req.userId,
        req.friends.map((f, i) => ({
          userId: f.userId,
          remark: f.remark,
          source: f.source,
          wording: f.wording,
          friendLists: f.friendLists,
          addedAtMs: timeMsFromRequest(f.addedAtMs, `friends[${i}].added_at_ms`),
          custom: customOf(f.customFields),
        })),
      );
      return { addedUserIds: added, existingUserIds: existing };
    },
    async updateFriend(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const { friend, names } = await friends.updateFriend(actor, {
        friendId: req.userId,
        remark: req.remark,
        friendLists: req.replaceFriendLists ? req.friendLists : undefined,
        custom: customOf(req.customFields),
      });
      return { friend: friendToProto(friend, names) };
    },
    async deleteFriends(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const { deleted, notFriends } = await friends.deleteFriends(
        actor,
        req.userIds,
        direction(enumFromRequest(RelationDirectionSchema, req.direction, "direction")),
      );
      return { deletedUserIds: deleted, notFriendUserIds: notFriends };
    },
    async listFriends(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const r = await friends.listFriends(actor, pageOf(req.page));
      return {
        friends: r.friends.map((f) => friendToProto(f, r.names)),
        page: { nextCursor: r.nextCursor },
        totalCount: r.total,
      };
    },
    async getFriends(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const r = await friends.getFriends(actor, req.userIds);
      return {
        friends: r.friends.map((f) => friendToProto(f, r.names)),
        notFriendUserIds: r.notFriends,
      };
    },
    async checkFriends(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return checks(await friends.checkFriends(actor, req.userIds, isBothCheck(req.checkType)));
    },

    async createFriendList(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return { friendList: await lists.createFriendList(actor, req.name, req.userIds) };
    },
    async renameFriendList(req, ctx) {
      await lists.renameFriendList(await actorOf(ctx, req.asUserId), req.name, req.newName);
      return {};
    },
    async deleteFriendList(req, ctx) {
      await lists.deleteFriendList(await actorOf(ctx, req.asUserId), req.name);
      return {};
    },
    async addToFriendList(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return { friendList: await lists.addToFriendList(actor, req.name, req.userIds) };
    },
    async removeFromFriendList(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return { friendList: await lists.removeFromFriendList(actor, req.name, req.userIds) };
    },
    async getFriendLists(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return { friendLists: await lists.getFriendLists(actor, req.names) };
    },

    async addToBlocklist(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const { added, existing } = await blocklist.addToBlocklist(actor, req.userIds);
      return { addedUserIds: added, existingUserIds: existing };
    },
    async removeFromBlocklist(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const { removed, notBlocked } = await blocklist.removeFromBlocklist(actor, req.userIds);
      return { removedUserIds: removed, notBlockedUserIds: notBlocked };
    },
    async listBlocklist(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      const r = await blocklist.listBlocklist(actor, pageOf(req.page));
      return {
        blockedUsers: r.blocked.map((b) => ({
          userId: b.blockedId,
          blockedAtMs: BigInt(b.blockedAtMs),
        })),
        page: { nextCursor: r.nextCursor },
        totalCount: r.total,
      };
    },
    async checkBlocklist(req, ctx) {
      const actor = await actorOf(ctx, req.asUserId);
      return checks(await blocklist.checkBlocklist(actor, req.userIds, isBothCheck(req.checkType)));
    },
  };
}
