import type { DoNotDisturbWindow } from "../../push/do-not-disturb.js";
import {
  deviceKey,
  type PushRegistration,
  type PushTarget,
  type PushTokenStore,
} from "../../push/store.js";

export function createMemoryPushTokenStore(): PushTokenStore {
  const byDevice = new Map<string, PushRegistration & { badge: number }>();
  const quiet = new Map<string, DoNotDisturbWindow>();
  const copy = ({ badge: _, ...r }: PushRegistration & { badge: number }): PushRegistration => ({
    ...r,
    target: { ...r.target },
  });
  const sameToken = (a: PushTarget, channel: string, token: string) =>
    a.channel === channel && a.token === token;
  return {
    async upsertPushRegistration(userId, deviceId, target, nowMs) {
      for (const [key, r] of byDevice) {
        if (sameToken(r.target, target.channel, target.token)) byDevice.delete(key);
      }
      byDevice.set(deviceKey(userId, deviceId), {
        userId,
        deviceId,
        target: { ...target },
        badge: 0,
        updatedAtMs: nowMs,
      });
    },
    async deletePushRegistration(userId, deviceId) {
      return byDevice.delete(deviceKey(userId, deviceId));
    },
    async deletePushToken(channel, token) {
      for (const [key, r] of byDevice) {
        if (sameToken(r.target, channel, token)) return byDevice.delete(key);
      }
      return false;
    },
    async selectPushRegistrations(userIds) {
      const wanted = new Set(userIds);
      return [...byDevice.values()].filter((r) => wanted.has(r.userId)).map(copy);
    },
    async selectBadges(devices) {
      const out = new Map<string, number>();
      for (const d of devices) {
        const key = deviceKey(d.userId, d.deviceId);
        const r = byDevice.get(key);
        if (r !== undefined) out.set(key, r.badge);
      }
      return out;
    },
    async updateBadge(userId, deviceId, badge) {
      const r = byDevice.get(deviceKey(userId, deviceId));
      if (r !== undefined) r.badge = badge;
    },
    async incrementBadges(devices) {
      const out = new Map<string, number>();
      for (const d of devices) {
        const key = deviceKey(d.userId, d.deviceId);
        const r = byDevice.get(key);
        if (r === undefined) continue;
        r.badge += 1;
        out.set(key, r.badge);
      }
      return out;
    },
    async upsertDoNotDisturb(userId, window) {
      if (window === undefined) quiet.delete(userId);
      else quiet.set(userId, { ...window });
    },
    async selectDoNotDisturb(userIds) {
      const out = new Map<string, DoNotDisturbWindow>();
      for (const id of userIds) {
        const w = quiet.get(id);
        if (w !== undefined) out.set(id, { ...w });
      }
      return out;
    },
  };
}
