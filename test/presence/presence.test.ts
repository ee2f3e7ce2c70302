import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/errors/domain-error.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import {
  KickReason,
  Platform,
  type SubscribeResponse,
  UserStatus,
} from "../../src/gen/im/v1/events_pb.js";
import { PresenceService } from "../../src/gen/im/v1/presence_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf, sigFor } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { registerPush } from "../support/push.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Presence over real streams, on the embedded default (one node, memory store and
// in-process bus) and on FerretDB + nats-server with two nodes: a login on one node
// is seen, kicked and followed from the other.
const USERS = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "fan"];
const PUSH_ONLINE_MS = 60_000;

type Backend = "memory" | "nats";
for (const backend of ["memory", "nats"] as Backend[]) {
  describe(`presence (${backend})`, () => {
    let nodes: TestApp[] = [];
    // The apps' clock runs ahead by `offset`: lets a test step past the PushOnline period.
    let offset = 0;
    const clock = () => Date.now() + offset;
    beforeAll(async () => {
      const env: Record<string, string> = {
        PRESENCE_PUSH_ONLINE_MS: String(PUSH_ONLINE_MS),
        PRESENCE_STATUS_TEXT_MAX_BYTES: "10",
        PRESENCE_SUBSCRIPTIONS_MAX: "3",
      };
      if (backend === "nats") {
        Object.assign(env, {
          MONGO_URL: testMongoUrl(),
          MONGO_DATABASE: uniqueName("presence"),
          NATS_URL: testNatsUrl(),
          NATS_NAMESPACE: uniqueName("presence"),
        });
        nodes = await Promise.all([startTestApp(env, { clock }), startTestApp(env, { clock })]);
      } else {
        nodes = [await startTestApp(env, { clock })];
      }
      await clientAs(AccountService, nodes[0]?.baseUrl ?? "", ADMIN).importAccounts({
        accounts: USERS.map((userId) => ({ userId })),
      });
    });
    afterAll(async () => {
      await Promise.all(nodes.map((n) => n.close()));
    });
    const first = () => nodes[0]?.baseUrl ?? "";
    const last = () => nodes[nodes.length - 1]?.baseUrl ?? "";
    const presenceAs = (userId: string, url = last()) => clientAs(PresenceService, url, userId);
    const statusOf = async (userId: string, asUser = ADMIN) => {
      const res = await presenceAs(asUser).getUserStatus({ userIds: [userId] });
      return res.statuses[0];
    };
    /** The user's devices that are not Offline (logins land after Ready: wait for them). */
    const devicesOf = async (userId: string) =>
      (await statusOf(userId, userId))?.devices.map((d) => d.deviceId).sort();
    const stream = (userId: string, deviceId: string, platform: Platform, url = first()) =>
      openStream(url, userId, deviceId, "connect-h2", sigFor(userId), platform);
    const endReason = async (s: OpenStream) => {
      const err = await s.ended;
      return err === undefined ? undefined : (await failureOf(Promise.reject(err))).reason;
    };

    it("is Online while a device streams; a mobile device that leaves is PushOnline, then Offline after the period", async () => {
      expect((await statusOf("u1"))?.status).toBe(UserStatus.OFFLINE);
      await registerPush(last(), "u1", "u1-phone");
      const phone = await stream("u1", "u1-phone", Platform.IOS);
      await eventually(async () => expect((await statusOf("u1"))?.status).toBe(UserStatus.ONLINE));
      const own = await statusOf("u1", "u1");
      expect(own?.devices.map((d) => [d.deviceId, d.platform, d.status])).toEqual([
        ["u1-phone", Platform.IOS, UserStatus.ONLINE],
      ]);
      // Others see the status, not the devices.
      expect((await statusOf("u1", "u2"))?.devices).toEqual([]);
      phone.close();
      await eventually(async () =>
        expect((await statusOf("u1"))?.status).toBe(UserStatus.PUSH_ONLINE),
      );
      offset += PUSH_ONLINE_MS;
      await eventually(async () => expect((await statusOf("u1"))?.status).toBe(UserStatus.OFFLINE));
    });

    it("turns a mobile device without a push registration Offline when it leaves", async () => {
      const phone = await stream("u10", "u10-phone", Platform.ANDROID);
      await eventually(async () => expect((await statusOf("u10"))?.status).toBe(UserStatus.ONLINE));
      phone.close();
      await eventually(async () =>
        expect((await statusOf("u10"))?.status).toBe(UserStatus.OFFLINE),
      );
    });

    it("turns a desktop or web device that leaves Offline at once (no PushOnline)", async () => {
      for (const platform of [Platform.WEB, Platform.WINDOWS, Platform.MINI_PROGRAM]) {
        const s = await stream("u2", `u2-${platform}`, platform);
        await eventually(async () =>
          expect((await statusOf("u2"))?.status).toBe(UserStatus.ONLINE),
        );
        s.close();
        await eventually(async () =>
          expect((await statusOf("u2"))?.status).toBe(UserStatus.OFFLINE),
        );
      }
    });

    it("Logout ends the device's stream (LOGGED_OUT) and makes a mobile device Offline, not PushOnline", async () => {
      const phone = await stream("u3", "u3-phone", Platform.ANDROID);
      const tablet = await stream("u3", "u3-web", Platform.WEB, last());
      await eventually(async () => expect(await devicesOf("u3")).toEqual(["u3-phone", "u3-web"]));
      await presenceAs("u3").logout({ deviceId: "u3-phone" });
      expect(await endReason(phone)).toBe(ErrorReason.LOGGED_OUT);
      // The user's other device hears of it.
      await tablet.waitFor(
        (e) =>
          e.event.case === "ownDeviceChanged" &&
          e.event.value.deviceId === "u3-phone" &&
          e.event.value.status === UserStatus.OFFLINE,
      );
      expect(await devicesOf("u3")).toEqual(["u3-web"]);
      tablet.close();
    });

    it("kicks the older device of the same platform class (dual policy) over real streams, across nodes", async () => {
      const phone = await stream("u4", "u4-phone", Platform.IOS, first());
      const web = await stream("u4", "u4-web", Platform.WEB, first());
      // Which device a login kicks follows the order the logins land in, not the streams'.
      await eventually(async () => expect(await devicesOf("u4")).toEqual(["u4-phone", "u4-web"]));
      // A desktop shares the app slot with the phone under dual: the phone is kicked.
      const desktop = await stream("u4", "u4-mac", Platform.MACOS, last());
      const kicked = await phone.waitFor((e) => e.event.case === "kickedOffline");
      expect(kicked.event.value).toMatchObject({
        reason: KickReason.LOGIN_ELSEWHERE,
        byDeviceId: "u4-mac",
        byPlatform: Platform.MACOS,
      });
      expect(await endReason(phone)).toBe(ErrorReason.KICKED_OFFLINE);
      // The kick is the stream's last event.
      expect(phone.events.at(-1)?.event.case).toBe("kickedOffline");
      expect(await devicesOf("u4")).toEqual(["u4-mac", "u4-web"]);
      // Web and desktop stay.
      await web.waitFor(
        (e) => e.event.case === "ownDeviceChanged" && e.event.value.deviceId === "u4-mac",
      );
      web.close();
      desktop.close();
    });

    it("admin KickDevice and KickUser sign devices out with KICKED_OFFLINE; others may not", async () => {
      const a = await stream("u5", "u5-a", Platform.WEB);
      const b = await stream("u5", "u5-b", Platform.ANDROID, last());
      await eventually(async () => expect(await devicesOf("u5")).toEqual(["u5-a", "u5-b"]));
      expect((await failureOf(presenceAs("u6").kickUser({ userId: "u5" }))).reason).toBe(
        ErrorReason.ADMIN_REQUIRED,
      );
      expect(await presenceAs(ADMIN).kickDevice({ userId: "u5", deviceId: "u5-a" })).toMatchObject({
        kicked: true,
      });
      expect(await endReason(a)).toBe(ErrorReason.KICKED_OFFLINE);
      const ev = a.events.find((e) => e.event.case === "kickedOffline");
      expect(ev?.event.value).toMatchObject({ reason: KickReason.ADMIN });
      expect((await presenceAs(ADMIN).kickUser({ userId: "u5" })).devicesKicked).toBe(1);
      expect(await endReason(b)).toBe(ErrorReason.KICKED_OFFLINE);
      // Kicked is signed out: Offline, not PushOnline.
      expect((await statusOf("u5"))?.status).toBe(UserStatus.OFFLINE);
    });

    it("tells followers of status changes and status text; unsubscribing stops it", async () => {
      const fan = await stream("fan", "fan-web", Platform.WEB, first());
      const res = await presenceAs("fan").subscribeUserStatus({ userIds: ["u6"] });
      expect(res.statuses.map((s) => [s.userId, s.status])).toEqual([["u6", UserStatus.OFFLINE]]);
      const statusEvents = () =>
        fan.events.flatMap((e: SubscribeResponse) =>
          e.event.case === "userStatusChanged" && e.event.value.status?.userId === "u6"
            ? [[e.event.value.status.status, e.event.value.status.statusText]]
            : [],
        );
      await registerPush(last(), "u6", "u6-phone");
      const u6 = await stream("u6", "u6-phone", Platform.ANDROID, last());
      await eventually(async () => expect(statusEvents()).toEqual([[UserStatus.ONLINE, ""]]));
      await presenceAs("u6").setStatusText({ statusText: "busy" });
      await eventually(async () =>
        expect(statusEvents().at(-1)).toEqual([UserStatus.ONLINE, "busy"]),
      );
      u6.close();
      await eventually(async () =>
        expect(statusEvents().at(-1)).toEqual([UserStatus.PUSH_ONLINE, "busy"]),
      );
      await presenceAs("fan").unsubscribeUserStatus({ userIds: [] });
      const seen = statusEvents().length;
      const again = await stream("u6", "u6-phone", Platform.ANDROID, last());
      await eventually(async () => expect((await statusOf("u6"))?.status).toBe(UserStatus.ONLINE));
      // A later event for fan proves the stream is still delivering.
      await presenceAs("fan").subscribeUserStatus({ userIds: ["u7"] });
      await stream("u7", "u7-web", Platform.WEB, last());
      await fan.waitFor(
        (e) => e.event.case === "userStatusChanged" && e.event.value.status?.userId === "u7",
      );
      expect(statusEvents().length).toBe(seen);
      again.close();
      fan.close();
    });

    it("refuses bad input with clear reasons", async () => {
      const unknown = await failureOf(
        openStream(first(), "u8", "u8-x", "connect-h2", sigFor("u8"), 99 as Platform),
      );
      expect([unknown.code, unknown.reason, unknown.field]).toEqual([
        Code.InvalidArgument,
        ErrorReason.UNKNOWN_PLATFORM,
        "platform",
      ]);
      const long = await failureOf(presenceAs("u8").setStatusText({ statusText: "x".repeat(11) }));
      expect([long.code, long.reason]).toEqual([
        Code.InvalidArgument,
        ErrorReason.STATUS_TEXT_TOO_LONG,
      ]);
      // The cap counts UTF-8 bytes: 6 characters of 2 bytes are too long for 10.
      const wide = await failureOf(presenceAs("u8").setStatusText({ statusText: "é".repeat(6) }));
      expect(wide.reason).toBe(ErrorReason.STATUS_TEXT_TOO_LONG);
      await presenceAs("u8").setStatusText({ statusText: "é".repeat(5) });
      const ghost = await failureOf(
        presenceAs("u8").subscribeUserStatus({ userIds: ["u9", "nobody"] }),
      );
      expect([ghost.code, ghost.reason]).toEqual([Code.NotFound, ErrorReason.USER_NOT_FOUND]);
      expect(ghost.err.rawMessage).toContain("nobody");
      await presenceAs("u8").subscribeUserStatus({ userIds: ["u1", "u2"] });
      const tooMany = await failureOf(
        presenceAs("u8").subscribeUserStatus({ userIds: ["u3", "u4"] }),
      );
      expect([tooMany.code, tooMany.reason]).toEqual([
        Code.ResourceExhausted,
        ErrorReason.STATUS_SUBSCRIPTION_LIMIT,
      ]);
      const batch = await failureOf(
        presenceAs("u8").subscribeUserStatus({ userIds: ["u1", "u2", "u3", "u4"] }),
      );
      expect(batch.reason).toBe(ErrorReason.TOO_MANY_ITEMS);
      const query = await presenceAs("u8").getUserStatus({ userIds: ["u9", "nobody"] });
      expect([query.statuses.map((s) => s.userId), query.notFoundUserIds]).toEqual([
        ["u9"],
        ["nobody"],
      ]);
      const self = await failureOf(presenceAs("u8").subscribeUserStatus({ userIds: ["u8"] }));
      expect(self.reason).toBe(ErrorReason.INVALID_FIELD);
    });
  });
}
