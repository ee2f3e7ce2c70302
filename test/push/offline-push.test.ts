import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { Platform, UserStatus } from "../../src/gen/im/v1/events_pb.js";
import { GroupService, GroupType, MessageReceiveOption } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { ProfileService } from "../../src/gen/im/v1/profile_pb.js";
import { ApnsEnvironment, PushService } from "../../src/gen/im/v1/push_pb.js";
import { deviceKey } from "../../src/push/store.js";
import { openLive } from "../relations/harness.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, sigFor } from "../support/clients.js";
import { everyElement, text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type FakeApns, startFakeApns } from "../support/fake-apns.js";
import { type FakeFcm, startFakeFcm } from "../support/fake-fcm.js";
import { fakeProvidersEnv } from "../support/push.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

const BUNDLE = "com.example.chat";
const BACKENDS: [string, () => Record<string, string>][] = [
  ["memory", () => ({})],
  [
    "mongodb + nats",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("push"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("push"),
    }),
  ],
];

let serial = 0;
const hexToken = () => (++serial).toString(16).padStart(64, "0");

describe.each(BACKENDS)("offline push on %s", (_backend, backendEnv) => {
  let apns: FakeApns;
  let fcm: FakeFcm;
  let app: TestApp;
  beforeAll(async () => {
    [apns, fcm] = await Promise.all([startFakeApns({ topics: [BUNDLE] }), startFakeFcm()]);
    app = await startTestApp({
      ...backendEnv(),
      ...fakeProvidersEnv({ apns, fcm }),
      PUSH_BACKOFF_MS: "5",
      PUSH_MAX_BACKOFF_MS: "20",
      PUSH_BATCH_SIZE: "2",
    });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([apns?.close(), fcm?.close()]);
  });

  const users = async (n: number, nick = true) => {
    const ids = Array.from({ length: n }, (_, i) => `p${++serial}_${i}`);
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: ids.map((userId) => ({ userId, nickname: nick ? `Nick ${userId}` : "" })),
    });
    return ids;
  };
  const registerApns = async (userId: string, deviceId: string, token = hexToken()) => {
    await clientAs(PushService, app.baseUrl, userId).registerPushToken({
      deviceId,
      target: {
        case: "apns",
        value: { token, environment: ApnsEnvironment.SANDBOX, bundleId: BUNDLE },
      },
    });
    return token;
  };
  const registerFcm = async (userId: string, deviceId: string) => {
    const token = `fcm-${++serial}-token`;
    await clientAs(PushService, app.baseUrl, userId).registerPushToken({
      deviceId,
      target: { case: "fcm", value: { token } },
    });
    return token;
  };
  const apnsTo = (token: string) => apns.delivered.filter((d) => d.token === token);
  const fcmTo = (token: string) => fcm.delivered.filter((d) => d.message.token === token);
  const send = (from: string, to: string, body: string, extra = {}) =>
    clientAs(MessageService, app.baseUrl, from).sendMessage({
      toUserId: to,
      body: [text(body)],
      ...extra,
    });

  it("pushes a one-to-one message to each registered device no live stream reaches, APNs and FCM", async () => {
    const [alice, bob] = await users(2);
    const phone = await registerApns(bob!, "iphone");
    const android = await registerFcm(bob!, "pixel");
    const ipad = await registerApns(bob!, "ipad");
    const live = await openLive(app.baseUrl, bob!, "ipad");
    const sent = await send(alice!, bob!, "hello bob");
    await eventually(async () => {
      expect(apnsTo(phone)).toHaveLength(1);
      expect(fcmTo(android)).toHaveLength(1);
    });
    const got = apnsTo(phone)[0]!;
    expect(got.headers).toMatchObject({
      "apns-topic": BUNDLE,
      "apns-push-type": "alert",
      "apns-priority": "10",
      "apns-collapse-id": sent.messageKey,
    });
    // The fake verified the ES256 signature with the key's public half; these are its claims.
    expect(got.jwt).toMatchObject({
      header: { alg: "ES256", kid: apns.keyId },
      claims: { iss: apns.teamId },
    });
    expect(got.payload).toEqual({
      aps: { alert: { body: `Nick ${alice}: hello bob` }, badge: 1, sound: "default" },
    });
    expect(fcmTo(android)[0]!.message).toMatchObject({
      notification: { body: `Nick ${alice}: hello bob` },
      android: { collapse_key: sent.messageKey, notification: { notification_count: 1 } },
    });
    // The iPad has a live stream: it got the message there, and no push.
    await live.waitFor("message");
    expect(apnsTo(ipad)).toHaveLength(0);
    live.close();

    // The badge counts up per device from what the device last reported.
    await clientAs(PushService, app.baseUrl, bob!).setPushBadge({ deviceId: "iphone", badge: 7 });
    await send(alice!, bob!, "again", {
      offlinePushInfo: { title: "T", desc: "custom line", ext: '{"k":1}' },
    });
    await eventually(async () => expect(apnsTo(phone)).toHaveLength(2));
    expect(apnsTo(phone)[1]!.payload).toEqual({
      aps: { alert: { title: "T", body: "custom line" }, badge: 8, sound: "default" },
      ext: '{"k":1}',
    });
  });

  it("sets the badge to the total unread when the phone goes to the background and after reads", async () => {
    const [alice, carol, bob] = await users(3);
    const groupId = `badge${++serial}`;
    const groups = (u: string) => clientAs(GroupService, app.baseUrl, u);
    await groups(carol!).createGroup({
      groupId,
      type: GroupType.WORK,
      name: "Crew",
      memberUserIds: [bob!],
    });
    const phone = await registerApns(bob!, "iphone");
    const open = (deviceId: string, platform: Platform) =>
      openStream(app.baseUrl, bob!, deviceId, "connect-h2", sigFor(bob!), platform);
    const iphone = await open("iphone", Platform.IOS);
    const desk = await open("desk", Platform.WEB);
    // Unread in two conversations that pushes nothing (no push job at all):
    // only the total can put them on the badge.
    const quiet = { offlinePushInfo: { disabled: true } };
    await send(alice!, bob!, "one", quiet);
    await send(alice!, bob!, "two", quiet);
    // One bob deleted for himself is not unread (the conversation's own rule).
    const gone = await send(alice!, bob!, "deleted", quiet);
    await clientAs(MessageLifecycleService, app.baseUrl, bob!).deleteMessagesForMe({
      conversationType: ConversationType.C2C,
      conversationId: gone.conversationId,
      seqs: [gone.seq],
    });
    for (const body of ["three", "four"]) {
      await groups(carol!).sendGroupMessage({ groupId, body: [text(body)], ...quiet });
    }
    // The phone was Online for these: it got them live, not pushed.
    await iphone.waitFor(
      () => iphone.events.filter((e) => e.event.case === "groupMessage").length === 2,
    );

    // The phone goes to the background: PushOnline (it has a registration).
    // Its badge is set before the change is told to bob's other devices.
    iphone.close();
    await desk.waitFor(
      (e) =>
        e.event.case === "ownDeviceChanged" &&
        e.event.value.deviceId === "iphone" &&
        e.event.value.status === UserStatus.PUSH_ONLINE,
    );
    await send(alice!, bob!, "five");
    await eventually(async () => expect(apnsTo(phone)).toHaveLength(1));
    expect(apnsTo(phone)[0]!.payload.aps).toMatchObject({ badge: 5 });

    // Bob reads alice on his desktop: the phone's badge drops to the group's 2
    // (set in the background: the read does not wait for it).
    const badge = async () =>
      (await app.storage.pushTokens.selectBadges([{ userId: bob!, deviceId: "iphone" }])).get(
        deviceKey(bob!, "iphone"),
      );
    expect(await badge()).toBe(5);
    await clientAs(MessageService, app.baseUrl, bob!).markRead({ peerUserId: alice! });
    await eventually(async () => expect(await badge()).toBe(2));
    await groups(carol!).sendGroupMessage({ groupId, body: [text("six")] });
    await eventually(async () => expect(apnsTo(phone)).toHaveLength(2));
    expect(apnsTo(phone)[1]!.payload.aps).toMatchObject({ badge: 3 });

    // And reads the group: nothing is unread, the next push says 1.
    await groups(bob!).markGroupRead({ groupId });
    await eventually(async () => expect(await badge()).toBe(0));
    await send(alice!, bob!, "seven");
    await eventually(async () => expect(apnsTo(phone)).toHaveLength(3));
    expect(apnsTo(phone)[2]!.payload.aps).toMatchObject({ badge: 1 });
    desk.close();
  });

  it("uses the profile nickname and the group name, and honours receive options and the group type's default", async () => {
    const [owner, notify, quiet, exceptAt, mentioned, discard] = await users(6);
    await clientAs(ProfileService, app.baseUrl, owner!).setProfile({
      profile: { nickname: "Olga" },
    });
    const groups = (u: string) => clientAs(GroupService, app.baseUrl, u);
    const groupId = `climb${++serial}`;
    await groups(owner!).createGroup({
      groupId,
      type: GroupType.PUBLIC,
      name: "Climbers",
      memberUserIds: [notify!, quiet!, exceptAt!, mentioned!, discard!],
    });
    const options: [string, MessageReceiveOption][] = [
      [quiet!, MessageReceiveOption.ACCEPT_NOT_NOTIFY],
      [exceptAt!, MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT],
      [mentioned!, MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT],
      [discard!, MessageReceiveOption.DISCARD],
    ];
    for (const [u, receiveOption] of options) {
      await groups(u).modifyGroupMember({ groupId, receiveOption });
    }
    const tokens = new Map<string, string>();
    for (const u of [owner!, notify!, quiet!, exceptAt!, mentioned!, discard!]) {
      tokens.set(u, await registerApns(u, "phone"));
    }
    await groups(owner!).sendGroupMessage({
      groupId,
      body: [text("on the wall "), everyElement().find((e) => e.element.case === "image")!],
      atUserIds: [mentioned!],
    });
    await eventually(async () => {
      expect(apnsTo(tokens.get(notify!)!)).toHaveLength(1);
      expect(apnsTo(tokens.get(mentioned!)!)).toHaveLength(1);
    });
    expect(apnsTo(tokens.get(notify!)!)[0]!.payload.aps).toMatchObject({
      alert: { body: "Olga (Climbers): on the wall [Image]" },
    });
    // Best effort only (batches run concurrently): src/push/push-worker.test.ts
    // proves exactly who the worker pushes to.
    for (const u of [owner!, quiet!, exceptAt!, discard!]) {
      expect(apnsTo(tokens.get(u)!), u).toHaveLength(0);
    }

    // A Meeting group's members default to ACCEPT_NOT_NOTIFY: only the @-free
    // push to a member who opted in arrives.
    const [host, guest, optedIn] = await users(3);
    const meeting = { groupId: `meet${++serial}` };
    await groups(host!).createGroup({
      groupId: meeting.groupId,
      type: GroupType.MEETING,
      name: "Standup",
      memberUserIds: [guest!, optedIn!],
    });
    await groups(optedIn!).modifyGroupMember({
      groupId: meeting.groupId,
      receiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
    });
    const guestToken = await registerApns(guest!, "phone");
    const optedToken = await registerApns(optedIn!, "phone");
    await groups(host!).sendGroupMessage({ groupId: meeting.groupId, body: [text("hi")] });
    await eventually(async () => expect(apnsTo(optedToken)).toHaveLength(1));
    expect(apnsTo(guestToken)).toHaveLength(0);
  });

  it("says what every element type pushes, joined in order", async () => {
    const [alice, bob] = await users(2, false);
    const token = await registerApns(bob!, "phone");
    await clientAs(MessageService, app.baseUrl, alice!).sendMessage({
      toUserId: bob!,
      body: everyElement(),
    });
    await eventually(async () => expect(apnsTo(token)).toHaveLength(1));
    // No nickname: the text alone. The custom element's Ext and Sound apply (no OfflinePushInfo).
    expect(apnsTo(token)[0]!.payload).toEqual({
      aps: {
        alert: {
          body: "hello[Location][Face]card[Voice][Image][File][Video][Chat History]",
        },
        badge: 1,
        sound: "ding.aiff",
      },
      ext: "url",
    });
  });

  it("pushes nothing to a user inside their do-not-disturb window", async () => {
    const [owner, resting, awake] = await users(3);
    const api = clientAs(PushService, app.baseUrl, resting!);
    // Equal bounds: all day, whatever the time now.
    const window = { startMinute: 600, endMinute: 600, timeZone: "Asia/Tokyo" };
    await api.setDoNotDisturb({ window });
    expect((await api.getDoNotDisturb({})).window).toMatchObject(window);
    const bad = await api
      .setDoNotDisturb({ window: { ...window, timeZone: "Mars/Base" } })
      .catch((e) => e);
    expect(String(bad)).toContain("time_zone");
    const restingToken = await registerApns(resting!, "phone");
    const awakeToken = await registerApns(awake!, "phone");
    const groupId = `dnd${++serial}`;
    const groups = (u: string) => clientAs(GroupService, app.baseUrl, u);
    await groups(owner!).createGroup({
      groupId,
      type: GroupType.WORK,
      name: "Night",
      memberUserIds: [resting!, awake!],
    });
    await groups(owner!).sendGroupMessage({ groupId, body: [text("late")] });
    // Best effort (batches run concurrently); the worker test proves the filter.
    await eventually(async () => expect(apnsTo(awakeToken)).toHaveLength(1));
    expect(apnsTo(restingToken)).toHaveLength(0);

    await api.setDoNotDisturb({});
    expect((await api.getDoNotDisturb({})).window).toBeUndefined();
    await groups(owner!).sendGroupMessage({ groupId, body: [text("morning")] });
    await eventually(async () => expect(apnsTo(restingToken)).toHaveLength(1));
  });

  it("removes registrations the providers call dead (410 Unregistered, UNREGISTERED)", async () => {
    const [alice, bob] = await users(2);
    const dead = await registerApns(bob!, "old-iphone");
    const deadFcm = await registerFcm(bob!, "old-pixel");
    apns.unregistered.add(dead);
    fcm.unregistered.add(deadFcm);
    await send(alice!, bob!, "anyone there?");
    await eventually(async () => {
      expect(await app.storage.pushTokens.selectPushRegistrations([bob!])).toEqual([]);
    });
    expect(apns.answered.filter((a) => a.token === dead).map((a) => [a.status, a.reason])).toEqual([
      [410, "Unregistered"],
    ]);
    expect(fcm.answered.filter((a) => a.token === deadFcm).map((a) => a.errorCode)).toEqual([
      "UNREGISTERED",
    ]);
  });

  it("pushes nothing for a message whose OfflinePushInfo disables push", async () => {
    const [alice, bob] = await users(2);
    const token = await registerApns(bob!, "phone");
    const off = await send(alice!, bob!, "quiet", { offlinePushInfo: { disabled: true } });
    const on = await send(alice!, bob!, "loud");
    await eventually(async () => expect(apnsTo(token)).toHaveLength(1));
    // The disabled one makes no push job at all (best effort: fan-out runs
    // concurrently; src/push/push-text.test.ts proves a disabled one renders nothing).
    expect(apnsTo(token).map((d) => d.headers["apns-collapse-id"])).toEqual([on.messageKey]);
    expect(off.messageKey).not.toBe(on.messageKey);
  });

  it("retries a 429 and a 503 and then delivers once", async () => {
    const [alice, bob] = await users(2);
    const token = await registerApns(bob!, "phone");
    const apnsStats = async () =>
      (await clientAs(PushService, app.baseUrl, ADMIN).getPushStats({})).providers.find(
        (p) => p.provider === "apns",
      )!;
    const before = await apnsStats();
    apns.script.push(
      { status: 429, reason: "TooManyRequests" },
      { status: 503, reason: "ServiceUnavailable" },
    );
    await send(alice!, bob!, "persist");
    await eventually(async () => expect(apnsTo(token)).toHaveLength(1));
    expect(apns.answered.filter((a) => a.token === token).map((a) => a.status)).toEqual([
      429, 503, 200,
    ]);
    // Admins read the per-provider counters; others may not.
    const after = await apnsStats();
    expect(after.sent - before.sent).toBe(1n);
    const denied = await clientAs(PushService, app.baseUrl, bob!)
      .getPushStats({})
      .catch((e) => e);
    expect(String(denied)).toContain("permission_denied");
  });
});
