import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin, requireCaller } from "../auth/caller.js";
import { assertDeviceId } from "../common/device-id.js";
import { assertUserId, assertUserIdBatch } from "../common/user-id.js";
import { ErrorReason, invalidField, notFound } from "../errors/domain-error.js";
import type { PresenceService } from "../gen/im/v1/presence_pb.js";
import type { PresenceConfig } from "./config.js";
import type { Presence } from "./presence.js";

export interface PresenceServiceDeps {
  presence: Presence;
  config: PresenceConfig;
  /** The ids among `userIds` that have an account. */
  existingUserIds(userIds: readonly string[]): Promise<Set<string>>;
}

/** PresenceService over Connect: validation, proto in, domain call, proto out. */
export function createPresenceService(
  deps: PresenceServiceDeps,
): ServiceImpl<typeof PresenceService> {
  const { presence, config } = deps;
  return {
    async logout(req, ctx) {
      const caller = requireCaller(ctx);
      assertDeviceId(req.deviceId);
      await presence.logout(caller.userId, req.deviceId);
      return {};
    },

    async getUserStatus(req, ctx) {
      const caller = requireCaller(ctx);
      const ids = assertUserIdBatch(req.userIds, "user_ids", config.queryMax);
      const existing = await deps.existingUserIds(ids);
      // The caller themself always counts (admins need no account).
      existing.add(caller.userId);
      const found = ids.filter((id) => existing.has(id));
      const statuses = await presence.statuses(
        found,
        (userId) => caller.isAdmin || userId === caller.userId,
      );
      return { statuses, notFoundUserIds: ids.filter((id) => !existing.has(id)) };
    },

    async setStatusText(req, ctx) {
      const caller = requireCaller(ctx);
      await presence.setStatusText(caller.userId, req.statusText);
      return {};
    },

    async subscribeUserStatus(req, ctx) {
      const caller = requireCaller(ctx);
      const ids = assertUserIdBatch(req.userIds, "user_ids", config.subscriptionsMax);
      if (ids.includes(caller.userId)) {
        throw invalidField("user_ids", "a user cannot subscribe to their own status");
      }
      const existing = await deps.existingUserIds(ids);
      const missing = ids.filter((id) => !existing.has(id));
      if (missing.length > 0) {
        throw notFound(
          ErrorReason.USER_NOT_FOUND,
          `user_ids: no account for ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", ..." : ""}`,
          { field: "user_ids" },
        );
      }
      return { statuses: await presence.subscribe(caller.userId, ids) };
    },

    async unsubscribeUserStatus(req, ctx) {
      const caller = requireCaller(ctx);
      // Empty: everyone.
      const ids =
        req.userIds.length === 0
          ? []
          : assertUserIdBatch(req.userIds, "user_ids", config.subscriptionsMax);
      await presence.unsubscribe(caller.userId, ids);
      return {};
    },

    async kickDevice(req, ctx) {
      requireAdmin(ctx);
      assertUserId(req.userId, "user_id");
      assertDeviceId(req.deviceId);
      return { kicked: await presence.kickDevice(req.userId, req.deviceId) };
    },

    async kickUser(req, ctx) {
      requireAdmin(ctx);
      assertUserId(req.userId, "user_id");
      return { devicesKicked: await presence.kickUser(req.userId) };
    },
  };
}
