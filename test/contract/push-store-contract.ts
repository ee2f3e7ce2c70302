import { beforeEach, describe, expect, it } from "vitest";
import { deviceKey, type PushTarget, type PushTokenStore } from "../../src/push/store.js";

const apns = (token: string): PushTarget => ({
  channel: "apns",
  token,
  environment: "sandbox",
  bundleId: "com.example.app",
});
const fcm = (token: string): PushTarget => ({ channel: "fcm", token });

/** What every PushTokenStore backend must do. `makeStore` returns an empty store. */
export function describePushTokenStoreContract(makeStore: () => Promise<PushTokenStore>): void {
  describe("PushTokenStore", () => {
    let store: PushTokenStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    const tokensOf = async (userIds: string[]) =>
      (await store.selectPushRegistrations(userIds))
        .map((r) => `${r.userId}/${r.deviceId}=${r.target.channel}:${r.target.token}`)
        .sort();

    it("keeps one registration per (user, device), with the target round-tripped", async () => {
      await store.upsertPushRegistration("a", "phone", apns("aa01"), 1);
      await store.upsertPushRegistration("a", "tablet", fcm("f-1"), 2);
      await store.upsertPushRegistration("a", "phone", apns("aa02"), 3);
      const regs = await store.selectPushRegistrations(["a", "nobody"]);
      expect(regs.sort((x, y) => x.deviceId.localeCompare(y.deviceId))).toEqual([
        { userId: "a", deviceId: "phone", target: apns("aa02"), updatedAtMs: 3 },
        { userId: "a", deviceId: "tablet", target: fcm("f-1"), updatedAtMs: 2 },
      ]);
    });

    it("moves a token to the latest user (or device) to register it", async () => {
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 1);
      await store.upsertPushRegistration("b", "d9", apns("aa01"), 2);
      expect(await tokensOf(["a", "b"])).toEqual(["b/d9=apns:aa01"]);
      // The same string on another channel is another token.
      await store.upsertPushRegistration("a", "d1", fcm("aa01"), 3);
      expect(await tokensOf(["a", "b"])).toEqual(["a/d1=fcm:aa01", "b/d9=apns:aa01"]);
    });

    it("deletes by device and by token, reporting whether anything was there", async () => {
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 1);
      await store.upsertPushRegistration("a", "d2", fcm("f-2"), 1);
      expect(await store.deletePushRegistration("a", "d1")).toBe(true);
      expect(await store.deletePushRegistration("a", "d1")).toBe(false);
      expect(await store.deletePushToken("apns", "f-2")).toBe(false);
      expect(await store.deletePushToken("fcm", "f-2")).toBe(true);
      expect(await store.selectPushRegistrations(["a"])).toEqual([]);
    });

    it("counts badges per device, from a reported value, and resets on registration", async () => {
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 1);
      await store.upsertPushRegistration("b", "d2", fcm("f-2"), 1);
      await store.updateBadge("a", "d1", 5);
      await store.updateBadge("a", "missing", 7);
      const bumped = await store.incrementBadges([
        { userId: "a", deviceId: "d1" },
        { userId: "b", deviceId: "d2" },
        { userId: "c", deviceId: "none" },
      ]);
      expect(bumped).toEqual(
        new Map([
          [deviceKey("a", "d1"), 6],
          [deviceKey("b", "d2"), 1],
        ]),
      );
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 2);
      expect(await store.selectBadges([{ userId: "a", deviceId: "d1" }])).toEqual(
        new Map([[deviceKey("a", "d1"), 0]]),
      );
    });

    it("forgets a device's badge with its registration, however it went", async () => {
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 1);
      await store.upsertPushRegistration("a", "d2", fcm("f-2"), 1);
      await store.upsertPushRegistration("a", "d3", fcm("f-3"), 1);
      const all = ["d1", "d2", "d3"].map((deviceId) => ({ userId: "a", deviceId }));
      await store.incrementBadges(all);
      await store.incrementBadges(all);
      expect(await store.selectBadges(all)).toEqual(
        new Map(all.map((d) => [deviceKey(d.userId, d.deviceId), 2])),
      );
      await store.deletePushRegistration("a", "d1");
      await store.deletePushToken("fcm", "f-2");
      // d3's token moves to another user's device.
      await store.upsertPushRegistration("b", "d9", fcm("f-3"), 2);
      expect(await store.incrementBadges(all)).toEqual(new Map());
      expect(await store.selectBadges(all)).toEqual(new Map());
      await store.upsertPushRegistration("a", "d1", apns("aa01"), 3);
      expect(await store.incrementBadges(all)).toEqual(new Map([[deviceKey("a", "d1"), 1]]));
      // Many devices at once, each counted on its own.
      const many = Array.from({ length: 40 }, (_, i) => ({ userId: `m${i}`, deviceId: "phone" }));
      for (const d of many)
        await store.upsertPushRegistration(d.userId, d.deviceId, fcm(`t-${d.userId}`), 4);
      await store.updateBadge("m7", "phone", 10);
      const bumped = await store.incrementBadges(many);
      expect(bumped.size).toBe(40);
      expect(bumped.get(deviceKey("m7", "phone"))).toBe(11);
      expect([...bumped.values()].filter((b) => b === 1)).toHaveLength(39);
    });

    it("keeps one do-not-disturb window per user, replaced and removed", async () => {
      const night = { startMinute: 1320, endMinute: 420, timeZone: "Europe/Berlin" };
      await store.upsertDoNotDisturb("a", night);
      await store.upsertDoNotDisturb("b", { startMinute: 0, endMinute: 60, timeZone: "" });
      await store.upsertDoNotDisturb("b", { startMinute: 5, endMinute: 6, timeZone: "UTC" });
      expect(await store.selectDoNotDisturb(["a", "b", "c"])).toEqual(
        new Map([
          ["a", night],
          ["b", { startMinute: 5, endMinute: 6, timeZone: "UTC" }],
        ]),
      );
      await store.upsertDoNotDisturb("a", undefined);
      await store.upsertDoNotDisturb("c", undefined);
      expect([...(await store.selectDoNotDisturb(["a", "b", "c"])).keys()]).toEqual(["b"]);
    });
  });
}
