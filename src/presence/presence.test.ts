import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../test/support/eventually.js";
import type { Bus } from "../bus/bus.js";
import type { Kv } from "../bus/kv.js";
import { createMemoryBus } from "../bus/memory-bus.js";
import { createMemoryHub, type MemoryHub } from "../bus/memory-hub.js";
import { ErrorReason } from "../errors/domain-error.js";
import {
  Platform,
  type SubscribeResponse,
  SubscribeResponseSchema,
  UserStatus,
} from "../gen/im/v1/events_pb.js";
import { createLiveHub, type LiveHub } from "../live/live-hub.js";
import { silentLogger } from "../log/logger.js";
import type { PresenceConfig } from "./config.js";
import {
  createPresence,
  defaultHasPushRegistration,
  type Presence,
  type SessionEnded,
  type StateChange,
} from "./presence.js";

// Two nodes on one in-process bus, an injected clock, and the timers left to the
// test (refreshOnce / reapOnce): a node "dies" by no longer refreshing its lease
// while the clock moves past the heartbeat timeout.
const HEARTBEAT = 400_000;
const config: PresenceConfig = {
  loginPolicy: "dual",
  heartbeatTimeoutMs: HEARTBEAT,
  reapIntervalMs: 5_000,
  pushOnlineMs: 7 * 86_400_000,
  statusTextMaxBytes: 100,
  queryMax: 500,
  subscriptionsMax: 200,
  friendsAutoSubscribe: false,
};

let now = 1_800_000_000_000;
const clock = () => now;
const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
});

interface Node {
  hub: LiveHub;
  presence: Presence;
  bus: Bus;
}

async function node(
  shared: MemoryHub,
  name: string,
  push = defaultHasPushRegistration,
  extra: {
    config?: Partial<PresenceConfig>;
    friendsOf?: (userId: string) => Promise<string[]>;
    /** Wraps the users bucket (to hold its writes back). */
    users?: (kv: Kv) => Kv;
    /** Wraps the subscriptions bucket. */
    subs?: (kv: Kv) => Kv;
    deviceAway?: (userId: string, deviceId: string) => Promise<void>;
  } = {},
): Promise<Node> {
  const bus = createMemoryBus({ clock, logger: silentLogger, hub: shared });
  const hub = createLiveHub({
    bus,
    clock,
    logger: silentLogger,
    keepAliveMs: 3_600_000,
    maxQueuedEvents: 1000,
    maxStreamsPerUser: 10,
    authorityCheckMs: 3_600_000,
  });
  const open = (bucket: string, ttlMs: number) => bus.openKv(bucket, { ttlMs });
  const presence = createPresence({
    buckets: {
      users: (extra.users ?? ((kv) => kv))(await open("presence-users", 0)),
      leases: await open("presence-leases", config.heartbeatTimeoutMs),
      nodes: await open("presence-nodes", 0),
      texts: await open("presence-texts", 0),
      subs: (extra.subs ?? ((kv) => kv))(await open("presence-subs", 0)),
    },
    hub,
    clock,
    logger: silentLogger,
    config: { ...config, ...extra.config },
    nodeId: name,
    hasPushRegistration: push,
    ...(extra.friendsOf === undefined ? {} : { friendsOf: extra.friendsOf }),
    ...(extra.deviceAway === undefined ? {} : { deviceAway: extra.deviceAway }),
  });
  hub.observeSessions(presence.sessions);
  // start() also sets timers; at these periods they never fire within a test.
  await presence.start();
  return { hub, presence, bus };
}

/** Holds a bucket's writes back while closed; reads go through. */
function writeGate() {
  let gate: Promise<void> | undefined;
  let release = () => {};
  const held = new Set<string>();
  const hold = async (key: string) => {
    if (gate === undefined) return;
    held.add(key);
    await gate;
    held.delete(key);
  };
  return {
    wrap: (kv: Kv): Kv => ({
      ...kv,
      create: async (key, value) => {
        await hold(key);
        return kv.create(key, value);
      },
      update: async (key, value, revision) => {
        await hold(key);
        return kv.update(key, value, revision);
      },
    }),
    /** Keys whose writes wait at the closed gate now. */
    held: () => [...held].sort(),
    close() {
      gate = new Promise((r) => {
        release = r;
      });
    },
    open() {
      gate = undefined;
      release();
    },
  };
}

/** Opens a device stream; collects its events; resolves once Ready and, unless `settle` is false, the login are through. */
async function device(
  n: Node,
  userId: string,
  deviceId: string,
  platform: Platform,
  settle = true,
) {
  const abort = new AbortController();
  aborts.push(abort);
  const events: SubscribeResponse[] = [];
  const it = n.hub.stream(
    { userId, deviceId, platform, sigIssuedAtMs: 0, sigExpiresAtMs: Number.MAX_SAFE_INTEGER },
    abort.signal,
  );
  const first = await it.next();
  expect(first.value?.event.case).toBe("ready");
  if (settle) await n.presence.settled();
  const ended = (async () => {
    try {
      for await (const e of it) events.push(e);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  return { events, ended, close: () => abort.abort() };
}

const statusOf = async (p: Presence, userId: string) => (await p.statuses([userId], () => true))[0];

describe("presence across nodes", () => {
  it("a node whose lease lapses has its mobile users PushOnline and others Offline; followers are told", async () => {
    const shared = createMemoryHub();
    const a = await node(shared, "node-a");
    const b = await node(shared, "node-b");
    const fan = await device(b, "fan", "fan-web", Platform.WEB);
    await b.presence.subscribe("fan", ["phoneuser", "webuser"]);
    const changes: StateChange[] = [];
    b.presence.onStateChange((c) => changes.push(c));
    await device(a, "phoneuser", "p1", Platform.ANDROID);
    await device(a, "webuser", "w1", Platform.WEB);
    expect((await statusOf(b.presence, "phoneuser"))?.status).toBe(UserStatus.ONLINE);
    const online = () => b.presence.onlineDevices(["phoneuser", "webuser", "nobody"]);
    expect(await online()).toEqual(
      new Map([
        ["phoneuser", ["p1"]],
        ["webuser", ["w1"]],
        ["nobody", []],
      ]),
    );
    // Node A stops refreshing (killed); B keeps refreshing.
    now += HEARTBEAT - 1;
    await b.presence.refreshOnce();
    await b.presence.reapOnce();
    expect((await statusOf(b.presence, "phoneuser"))?.status).toBe(UserStatus.ONLINE);
    now += 1;
    await b.presence.refreshOnce();
    // Queries see it as soon as the lease lapsed, before any reaper pass.
    expect((await statusOf(b.presence, "phoneuser"))?.status).toBe(UserStatus.PUSH_ONLINE);
    expect((await statusOf(b.presence, "webuser"))?.status).toBe(UserStatus.OFFLINE);
    // PushOnline is not Online: push goes to the phone again.
    expect(await online()).toEqual(
      new Map([
        ["phoneuser", []],
        ["webuser", []],
        ["nobody", []],
      ]),
    );
    await b.presence.reapOnce();
    const told = () =>
      fan.events.flatMap((e) =>
        e.event.case === "userStatusChanged"
          ? [[e.event.value.status?.userId, e.event.value.status?.status]]
          : [],
      );
    await eventually(async () =>
      expect(told().slice(-2).sort()).toEqual([
        ["phoneuser", UserStatus.PUSH_ONLINE],
        ["webuser", UserStatus.OFFLINE],
      ]),
    );
    expect(changes.map((c) => [c.userId, c.action, c.reason]).sort()).toEqual([
      ["phoneuser", "disconnect", "HEARTBEAT_TIMEOUT"],
      ["webuser", "disconnect", "HEARTBEAT_TIMEOUT"],
    ]);
    // A second pass (or another node) finds nothing more to do.
    await b.presence.reapOnce();
    expect(changes).toHaveLength(2);

    // Node A was only cut off (a NATS restart, a partition): its next refresh puts its streams back.
    await a.presence.refreshOnce();
    expect((await statusOf(b.presence, "phoneuser"))?.status).toBe(UserStatus.ONLINE);
    expect((await statusOf(b.presence, "webuser"))?.status).toBe(UserStatus.ONLINE);
    await eventually(async () =>
      expect(told().slice(-2).sort()).toEqual([
        ["phoneuser", UserStatus.ONLINE],
        ["webuser", UserStatus.ONLINE],
      ]),
    );
  });

  it("PushOnline needs a push registration (injectable) and lapses after the period", async () => {
    const shared = createMemoryHub();
    const registered = new Set(["with-push"]);
    const a = await node(shared, "a", async (_u, deviceId) => registered.has(deviceId));
    const withPush = await device(a, "m1", "with-push", Platform.IOS);
    const without = await device(a, "m2", "no-push", Platform.IOS);
    withPush.close();
    without.close();
    await eventually(async () => {
      expect((await statusOf(a.presence, "m1"))?.status).toBe(UserStatus.PUSH_ONLINE);
      expect((await statusOf(a.presence, "m2"))?.status).toBe(UserStatus.OFFLINE);
    });
    now += config.pushOnlineMs - 1;
    expect((await statusOf(a.presence, "m1"))?.status).toBe(UserStatus.PUSH_ONLINE);
    now += 1;
    expect((await statusOf(a.presence, "m1"))?.status).toBe(UserStatus.OFFLINE);
  });

  it("tells followers once when a PushOnline period lapses (a change by time alone)", async () => {
    const shared = createMemoryHub();
    // Phone and tablet both online under the multi policy.
    const extra = { config: { loginPolicy: "multi" as const } };
    const a = await node(shared, "a", defaultHasPushRegistration, extra);
    const b = await node(shared, "b", defaultHasPushRegistration, extra);
    const fan = await device(b, "fan", "fan-web", Platform.WEB);
    await b.presence.subscribe("fan", ["roamer"]);
    const changes: StateChange[] = [];
    for (const n of [a, b]) n.presence.onStateChange((c) => changes.push(c));
    const phone = await device(a, "roamer", "phone", Platform.IOS);
    const tablet = await device(b, "roamer", "tablet", Platform.IPAD);
    phone.close();
    await eventually(async () =>
      expect(tablet.events.some((e) => e.event.case === "ownDeviceChanged")).toBe(true),
    );
    tablet.close();
    const told = () =>
      fan.events.flatMap((e) =>
        e.event.case === "userStatusChanged" ? [e.event.value.status?.status] : [],
      );
    await eventually(async () =>
      expect(told()).toEqual([UserStatus.ONLINE, UserStatus.PUSH_ONLINE]),
    );
    // A later event to fan (another of its devices signing in) shows delivery caught up.
    const caughtUp = async (deviceId: string, platform: Platform) => {
      await device(b, "fan", deviceId, platform);
      await eventually(async () =>
        expect(
          fan.events.some(
            (e) => e.event.case === "ownDeviceChanged" && e.event.value.deviceId === deviceId,
          ),
        ).toBe(true),
      );
    };
    // A reaper pass within the period tells nothing.
    now += config.pushOnlineMs - 1;
    await a.presence.reapOnce();
    await b.presence.reapOnce();
    await caughtUp("fan-win", Platform.WINDOWS);
    expect(told()).toEqual([UserStatus.ONLINE, UserStatus.PUSH_ONLINE]);
    // Past the period (and its filing slot): the next pass on some node tells it, once.
    now += 2 * Math.ceil(config.pushOnlineMs / 1000) + 1;
    await Promise.all([a.presence.reapOnce(), b.presence.reapOnce()]);
    await a.presence.reapOnce();
    await b.presence.reapOnce();
    await caughtUp("fan-mac", Platform.MACOS);
    expect(told()).toEqual([UserStatus.ONLINE, UserStatus.PUSH_ONLINE, UserStatus.OFFLINE]);
    expect((await statusOf(b.presence, "roamer"))?.status).toBe(UserStatus.OFFLINE);
    // No state-change webhook: the reference's callback has no such event (the disconnect was told).
    expect(changes.filter((c) => c.userId === "roamer").map((c) => c.action)).toEqual([
      "login",
      "login",
      "disconnect",
      "disconnect",
    ]);
  });

  it("asks push only about devices whose status depends on it (mobile, not Online)", async () => {
    const asked: string[] = [];
    const a = await node(createMemoryHub(), "a", async (_u, deviceId) => {
      asked.push(deviceId);
      return true;
    });
    const phone = await device(a, "asker", "phone", Platform.ANDROID);
    await device(a, "asker", "web", Platform.WEB);
    expect((await statusOf(a.presence, "asker"))?.status).toBe(UserStatus.ONLINE);
    expect(asked).toEqual([]);
    phone.close();
    await eventually(async () =>
      expect((await statusOf(a.presence, "asker"))?.devices.map((d) => d.status)).toEqual([
        UserStatus.PUSH_ONLINE,
        UserStatus.ONLINE,
      ]),
    );
    expect(new Set(asked)).toEqual(new Set(["phone"]));
  });

  it("tells session-ended listeners of logouts and kicks (to clear push bindings), not of disconnects", async () => {
    const shared = createMemoryHub();
    const a = await node(shared, "a");
    const b = await node(shared, "b");
    const ended: SessionEnded[] = [];
    a.presence.onSessionEnded((e) => ended.push(e));
    b.presence.onSessionEnded((e) => ended.push(e));
    const phone = await device(a, "u", "phone", Platform.IOS);
    phone.close();
    await eventually(async () =>
      expect((await statusOf(a.presence, "u"))?.status).toBe(UserStatus.PUSH_ONLINE),
    );
    expect(ended).toEqual([]);
    // The PushOnline phone is signed out by a desktop login in its slot (dual).
    const desk = await device(b, "u", "desk", Platform.WINDOWS);
    expect(ended.map((e) => [e.deviceId, e.reason])).toEqual([["phone", "kicked"]]);
    await a.presence.logout("u", "desk");
    expect(ended.map((e) => [e.deviceId, e.reason])).toEqual([
      ["phone", "kicked"],
      ["desk", "logout"],
    ]);
    expect(await desk.ended).toMatchObject({ reason: ErrorReason.LOGGED_OUT });
    expect((await statusOf(a.presence, "u"))?.status).toBe(UserStatus.OFFLINE);
  });

  it("tells the device-away hook of mobile devices whose stream ends here, before the user's devices hear", async () => {
    const shared = createMemoryHub();
    const away: string[] = [];
    let hookRan: () => void = () => {};
    const hook = async (userId: string, deviceId: string) => {
      away.push(`${userId}/${deviceId}`);
      // Held until the test lets it go: the change is announced only after it.
      await new Promise<void>((r) => {
        hookRan = r;
      });
    };
    const a = await node(shared, "a", defaultHasPushRegistration, { deviceAway: hook });
    const b = await node(shared, "b", defaultHasPushRegistration, { deviceAway: hook });
    const desk = await device(a, "u", "desk", Platform.WEB);
    const phone = await device(a, "u", "phone", Platform.IOS);
    phone.close();
    await eventually(async () => expect(away).toEqual(["u/phone"]));
    const told = () =>
      desk.events.filter(
        (e) =>
          e.event.case === "ownDeviceChanged" &&
          e.event.value.deviceId === "phone" &&
          e.event.value.status === UserStatus.PUSH_ONLINE,
      );
    expect(told()).toHaveLength(0);
    hookRan();
    await eventually(async () => expect(told()).toHaveLength(1));

    // Not for a sign-out, nor for a desktop that leaves.
    const tablet = await device(a, "u", "tablet", Platform.IPAD);
    await a.presence.logout("u", "tablet");
    await tablet.ended;
    desk.close();
    await a.presence.settled();
    expect(away).toEqual(["u/phone"]);

    // Nor for a phone of a node that died (it reconnects; the reaper is not held up).
    await device(a, "v", "v-phone", Platform.ANDROID);
    now += HEARTBEAT;
    await b.presence.refreshOnce();
    await b.presence.reapOnce();
    expect((await statusOf(b.presence, "v"))?.status).toBe(UserStatus.PUSH_ONLINE);
    expect(away).toEqual(["u/phone"]);
  });

  it("a stream that ends before its login write lands does not stay Online", async () => {
    const gate = writeGate();
    const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, { users: gate.wrap });
    gate.close();
    // Ready comes while the login write is held back; the stream ends before it lands.
    const web = await device(a, "early", "web", Platform.WEB, false);
    // The race under test, not a close before the write starts: the write waits at the gate.
    await eventually(async () => expect(gate.held()).not.toEqual([]));
    web.close();
    expect(await web.ended).toBeUndefined();
    gate.open();
    await a.presence.settled();
    expect((await statusOf(a.presence, "early"))?.status).toBe(UserStatus.OFFLINE);
  });

  it("a logout before the stream's login write lands leaves the device Offline", async () => {
    const gate = writeGate();
    const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, { users: gate.wrap });
    gate.close();
    const changes: StateChange[] = [];
    a.presence.onStateChange((c) => changes.push(c));
    const web = await device(a, "quick", "web", Platform.WEB, false);
    await eventually(async () => expect(gate.held()).not.toEqual([]));
    await a.presence.logout("quick", "web");
    expect(await web.ended).toMatchObject({ reason: ErrorReason.LOGGED_OUT });
    gate.open();
    await a.presence.settled();
    expect((await statusOf(a.presence, "quick"))?.status).toBe(UserStatus.OFFLINE);
    expect(changes.map((c) => [c.action, c.reason])).toEqual([
      ["login", ""],
      ["logout", "LOGOUT"],
    ]);
  });

  it("a kick before the stream's login write lands still signs the device out", async () => {
    const gate = writeGate();
    const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, { users: gate.wrap });
    gate.close();
    const web = await device(a, "early", "web", Platform.WEB, false);
    // The record does not have it yet: the answer says so, but the stream ends.
    expect(await a.presence.kickDevice("early", "web")).toBe(false);
    expect(await web.ended).toMatchObject({ reason: ErrorReason.KICKED_OFFLINE });
    expect(web.events.map((e) => e.event.case)).toEqual(["kickedOffline"]);
    gate.open();
    await a.presence.settled();
    expect((await statusOf(a.presence, "early"))?.status).toBe(UserStatus.OFFLINE);
  });

  it("a logout ends the stream it found, not a newer stream of the device opened meanwhile", async () => {
    const gate = writeGate();
    const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, { users: gate.wrap });
    await device(a, "u", "web", Platform.WEB);
    gate.close();
    const loggingOut = a.presence.logout("u", "web");
    // The device reconnects while the logout's write is held back.
    const newer = await device(a, "u", "web", Platform.WEB, false);
    gate.open();
    await loggingOut;
    await a.presence.settled();
    // Still open: an event published now reaches it.
    a.hub.publishToUser(
      "u",
      create(SubscribeResponseSchema, { event: { case: "keepAlive", value: {} } }),
    );
    await eventually(async () =>
      expect(newer.events.map((e) => e.event.case)).toContain("keepAlive"),
    );
    expect((await statusOf(a.presence, "u"))?.status).toBe(UserStatus.ONLINE);
  });

  it("of two logins in one slot on two nodes the newer stream wins, whichever write lands last", async () => {
    const shared = createMemoryHub();
    const gate = writeGate();
    const a = await node(shared, "a", defaultHasPushRegistration, { users: gate.wrap });
    const b = await node(shared, "b");
    const changes: StateChange[] = [];
    a.presence.onStateChange((c) => changes.push(c));
    // The older login (Windows on A) is written after the newer one (Mac on B, same slot in dual).
    gate.close();
    const older = await device(a, "u", "win", Platform.WINDOWS, false);
    await eventually(async () => expect(gate.held()).not.toEqual([]));
    now += 1000;
    const newer = await device(b, "u", "mac", Platform.MACOS);
    gate.open();
    await a.presence.settled();
    expect(await older.ended).toMatchObject({ reason: ErrorReason.KICKED_OFFLINE });
    expect(older.events.at(-1)?.event).toMatchObject({
      case: "kickedOffline",
      value: { byDeviceId: "mac", byPlatform: Platform.MACOS },
    });
    expect(changes.map((c) => [c.deviceId, c.action, c.reason])).toEqual([
      ["win", "login", ""],
      ["win", "kicked", "LOGIN_ELSEWHERE"],
    ]);
    await a.presence.settled();
    expect((await statusOf(b.presence, "u"))?.devices.map((d) => d.deviceId)).toEqual(["mac"]);
    expect(newer.events.some((e) => e.event.case === "kickedOffline")).toBe(false);

    // One device on both nodes: the hub keeps the newer stream, and so does the record.
    gate.close();
    const first = await device(a, "v", "web", Platform.WEB, false);
    now += 1000;
    const second = await device(b, "v", "web", Platform.WEB);
    expect(await first.ended).toMatchObject({ reason: ErrorReason.STREAM_REPLACED });
    gate.open();
    await a.presence.settled();
    expect((await statusOf(b.presence, "v"))?.status).toBe(UserStatus.ONLINE);
    // The record follows the surviving stream: its end leaves the device Offline.
    second.close();
    await eventually(async () =>
      expect((await statusOf(a.presence, "v"))?.status).toBe(UserStatus.OFFLINE),
    );
  });

  it("with friendsAutoSubscribe, friends hear of status changes without subscribing", async () => {
    const friendsOf = async (userId: string) => (userId === "star" ? ["buddy"] : []);
    for (const on of [true, false]) {
      const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, {
        config: { friendsAutoSubscribe: on },
        friendsOf,
      });
      const buddy = await device(a, "buddy", "buddy-web", Platform.WEB);
      const star = await device(a, "star", "star-web", Platform.WEB);
      star.close();
      // A later event to buddy (its own other device logging in) shows delivery caught up.
      await device(a, "buddy", "buddy-mac", Platform.MACOS);
      await eventually(async () =>
        expect(buddy.events.some((e) => e.event.case === "ownDeviceChanged")).toBe(true),
      );
      await eventually(async () => {
        const told = buddy.events.flatMap((e) =>
          e.event.case === "userStatusChanged" ? [e.event.value.status?.status] : [],
        );
        expect(told).toEqual(on ? [UserStatus.ONLINE, UserStatus.OFFLINE] : []);
      });
    }
  });
});

describe("status subscriptions", () => {
  it("writes the followed users' follower lists together, not one after another", async () => {
    const gate = writeGate();
    const a = await node(createMemoryHub(), "a", defaultHasPushRegistration, { subs: gate.wrap });
    const targets = ["t1", "t2", "t3", "t4"];
    await a.presence.subscribe("fan", ["t0"]);
    gate.close();
    const subscribing = a.presence.subscribe("fan", targets);
    // The subscriber's own list first, then every target's at once.
    await eventually(async () => expect(gate.held()).toEqual(["of.fan"]));
    gate.open();
    gate.close();
    await eventually(async () => expect(gate.held()).toEqual(targets.map((t) => `to.${t}`)));
    gate.open();
    expect((await subscribing).map((s) => s.userId)).toEqual(targets);
    gate.close();
    const unsubscribing = a.presence.unsubscribe("fan", []);
    await eventually(async () => expect(gate.held()).toEqual(["of.fan"]));
    gate.open();
    gate.close();
    await eventually(async () =>
      expect(gate.held()).toEqual(["t0", ...targets].map((t) => `to.${t}`)),
    );
    gate.open();
    await unsubscribing;
  });
});
