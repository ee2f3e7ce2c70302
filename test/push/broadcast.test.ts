import { afterEach, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { BroadcastService, BroadcastState } from "../../src/gen/im/v1/broadcast_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { UserStatus } from "../../src/gen/im/v1/events_pb.js";
import { PresenceService } from "../../src/gen/im/v1/presence_pb.js";
import { openMongoStorage, type Storage } from "../../src/storage/storage.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type FakeFcm, startFakeFcm } from "../support/fake-fcm.js";
import { consumerIdle, fakeProvidersEnv } from "../support/push.js";
import { startServerProcess } from "../support/server-process.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp } from "../support/test-app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Pushes per claimed chunk (PUSH_CONCURRENCY): the registrations below are laid out in whole chunks. */
const CHUNK = 10;

async function world() {
  const fcm = await startFakeFcm();
  cleanups.push(() => fcm.close());
  const namespace = uniqueName("bcast");
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("bcast"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: namespace,
    ...fakeProvidersEnv({ fcm }),
    PUSH_CONCURRENCY: String(CHUNK),
    // A held request must not time out and be retried (that would be a second delivery).
    PUSH_MAX_ATTEMPTS: "1",
    PUSH_REQUEST_TIMEOUT_MS: "120000",
    BROADCAST_BATCH_SIZE: "1000",
    BROADCAST_USERS_PER_SECOND: "1000000",
  };
  return { fcm, env, namespace };
}

const userId = (i: number) => `u${String(i).padStart(5, "0")}`;
const tokenOf = (id: string) => `fcm-token-${id}`;

/** `n` users tagged "fans", those `registered` with an FCM device "phone", written through the store in bulk. */
async function seed(storage: Storage, n: number, registered: (i: number) => boolean) {
  const ids = Array.from({ length: n }, (_, i) => userId(i));
  for (let i = 0; i < n; i += 500) {
    const stored = await storage.broadcasts.insertUserLabels(
      ids
        .slice(i, i + 500)
        .map((id) => ({ userId: id, labels: { tags: ["fans"], attributes: {} } })),
    );
    expect(stored.size).toBe(Math.min(500, n - i));
  }
  const phones = ids.filter((_, i) => registered(i));
  for (let i = 0; i < phones.length; i += 10) {
    await Promise.all(
      phones
        .slice(i, i + 10)
        .map((id) =>
          storage.pushTokens.upsertPushRegistration(
            id,
            "phone",
            { channel: "fcm", token: tokenOf(id) },
            1,
          ),
        ),
    );
  }
  return ids;
}

const broadcasts = (baseUrl: string, as = ADMIN) => clientAs(BroadcastService, baseUrl, as);

/** How often each FCM token was pushed. */
function pushesByToken(fcm: FakeFcm): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of fcm.delivered)
    counts.set(d.message.token, (counts.get(d.message.token) ?? 0) + 1);
  return counts;
}

describe("user tags and attributes", () => {
  it("are set, merged, removed and read by admins only, within the limits", async () => {
    const { env } = await world();
    const app = await startTestApp(env);
    cleanups.push(() => app.close());
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "ann" }, { userId: "ben" }],
    });
    const admin = broadcasts(app.baseUrl);
    await admin.addUserTags({ userIds: ["ann", "ben"], tags: ["vip", "beta"] });
    await admin.addUserTags({ userIds: ["ann"], tags: ["vip", "gold"] });
    await admin.setUserAttributes({ userIds: ["ann"], attributes: { city: "Paris", plan: "pro" } });
    await admin.setUserAttributes({ userIds: ["ann"], attributes: { city: "Oslo" } });
    await admin.removeUserTags({ userIds: ["ben"], tags: ["beta"] });
    const labels = await admin.getUserLabels({ userIds: ["ann", "ben", "nobody"] });
    expect(labels.users.map((u) => [u.userId, u.tags, u.attributes])).toEqual([
      ["ann", ["beta", "gold", "vip"], { city: "Oslo", plan: "pro" }],
      ["ben", ["vip"], {}],
      ["nobody", [], {}],
    ]);
    await admin.removeUserAttributes({ userIds: ["ann"], keys: ["plan"] });
    await admin.removeUserTags({ userIds: ["ann"], tags: [] });
    expect((await admin.getUserLabels({ userIds: ["ann"] })).users[0]).toMatchObject({
      tags: [],
      attributes: { city: "Oslo" },
    });

    // Limits: 10 tags per user, 50-byte tags, 10 attributes, accounts only, admins only.
    const tags = Array.from({ length: 10 }, (_, i) => `t${i}`);
    await admin.addUserTags({ userIds: ["ben"], tags: tags.slice(0, 9) });
    const tooMany = await failureOf(admin.addUserTags({ userIds: ["ben"], tags: ["x", "y"] }));
    expect(tooMany.reason).toBe(ErrorReason.TOO_MANY_USER_TAGS);
    expect((await admin.getUserLabels({ userIds: ["ben"] })).users[0]?.tags).toHaveLength(10);
    const tooLong = await failureOf(
      admin.addUserTags({ userIds: ["ann"], tags: ["x".repeat(51)] }),
    );
    expect([tooLong.reason, tooLong.field]).toEqual([ErrorReason.INVALID_FIELD, "tags[0]"]);
    const attrs = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "v"]));
    const tooManyAttrs = await failureOf(
      admin.setUserAttributes({ userIds: ["ann"], attributes: attrs }),
    );
    expect(tooManyAttrs.reason).toBe(ErrorReason.TOO_MANY_USER_ATTRIBUTES);
    const tooManyKeys = await failureOf(
      admin.removeUserAttributes({ userIds: ["ann"], keys: [...Object.keys(attrs), "k10"] }),
    );
    expect([tooManyKeys.reason, tooManyKeys.field]).toEqual([ErrorReason.TOO_MANY_ITEMS, "keys"]);
    const noAccount = await failureOf(admin.addUserTags({ userIds: ["ghost"], tags: ["vip"] }));
    expect(noAccount.reason).toBe(ErrorReason.USER_NOT_FOUND);
    const notAdmin = await failureOf(
      broadcasts(app.baseUrl, "ann").addUserTags({ userIds: ["ann"], tags: ["vip"] }),
    );
    expect(notAdmin.reason).toBe(ErrorReason.ADMIN_REQUIRED);
    const empty = await failureOf(
      admin.startBroadcast({ audience: { case: "allUsers", value: true }, body: [] }),
    );
    expect(empty.reason).toBe(ErrorReason.BROADCAST_EMPTY);
    const unknown = await failureOf(admin.getBroadcast({ taskId: "nope" }));
    expect(unknown.reason).toBe(ErrorReason.BROADCAST_NOT_FOUND);
    const unknownCancel = await failureOf(admin.cancelBroadcast({ taskId: "nope" }));
    expect(unknownCancel.reason).toBe(ErrorReason.BROADCAST_NOT_FOUND);
  }, 120_000);
});

describe("broadcast by tag", () => {
  it("reaches 10,000 tagged users on two nodes: live to online ones, one push per offline device, with progress", async () => {
    const { fcm, env } = await world();
    const [a, b] = await Promise.all([startTestApp(env), startTestApp(env)]);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const n = 10_000;
    // Every 20th user has a phone: 50 per batch of 1000, in whole chunks.
    const ids = await seed(a.storage, n, (i) => i % 20 === 0);
    // Users 5, 15, ..., 295 are online (streams on both nodes); u00000's phone is online too.
    const online = ids.filter((_, i) => i % 10 === 5 && i < 300);
    const outsider = "outsider";
    await a.storage.pushTokens.upsertPushRegistration(
      outsider,
      "phone",
      { channel: "fcm", token: tokenOf(outsider) },
      1,
    );
    await clientAs(AccountService, a.baseUrl, ADMIN).importAccounts({
      accounts: [...online, userId(0), outsider].map((id) => ({ userId: id })),
    });
    const streams: OpenStream[] = [];
    for (const [i, id] of online.entries()) {
      streams.push(await openStream((i % 2 === 0 ? a : b).baseUrl, id));
    }
    const phoneStream = await openStream(b.baseUrl, userId(0), "phone");
    const outsiderStream = await openStream(a.baseUrl, outsider);
    streams.push(phoneStream);
    cleanups.push(async () => {
      for (const s of [...streams, outsiderStream]) s.close();
    });

    // Presence has every online device before the broadcast looks.
    await eventually(async () => {
      const { statuses } = await clientAs(PresenceService, a.baseUrl, ADMIN).getUserStatus({
        userIds: [...online, userId(0)],
      });
      expect(statuses.filter((st) => st.status === UserStatus.ONLINE)).toHaveLength(
        online.length + 1,
      );
    }, 30_000);

    // The provider stalls inside the second batch: the first is recorded, the second is not.
    const firstBatchPushes = 49; // 50 phones, u00000's reached live
    fcm.holdAfter = firstBatchPushes + 2 * CHUNK;
    const started = await broadcasts(a.baseUrl).startBroadcast({
      audience: { case: "tags", value: { tags: ["fans", "other"] } },
      body: [text("Big sale")],
      offlinePushInfo: { title: "Shop" },
    });
    const taskId = started.task?.taskId ?? "";
    await eventually(
      async () => expect(fcm.delivered).toHaveLength(fcm.holdAfter! + CHUNK),
      120_000,
    );
    const midway = (await broadcasts(b.baseUrl).getBroadcast({ taskId })).task;
    expect(midway).toMatchObject({
      state: BroadcastState.RUNNING,
      targeted: 1000n,
      onlineDelivered: BigInt(online.length + 1),
      pushed: BigInt(fcm.holdAfter!),
      failed: 0n,
    });
    fcm.release();

    await eventually(
      async () => {
        const t = (await broadcasts(b.baseUrl).getBroadcast({ taskId })).task;
        expect(t?.state).toBe(BroadcastState.DONE);
      },
      300_000,
      200,
    );
    const done = (await broadcasts(a.baseUrl).getBroadcast({ taskId })).task;
    expect(done).toMatchObject({
      targeted: BigInt(n),
      onlineDelivered: BigInt(online.length + 1),
      pushed: 499n,
      failed: 0n,
    });
    const byToken = pushesByToken(fcm);
    const expected = ids.filter((_, i) => i % 20 === 0 && i > 0).map(tokenOf);
    expect([...byToken.keys()].sort()).toEqual(expected.sort());
    expect([...byToken.values()].every((c) => c === 1)).toBe(true);
    const pushed = fcm.delivered[0]?.message;
    expect(pushed?.notification).toEqual({ title: "Shop", body: "Big sale" });
    // Each online device got the live event once; the outsider got nothing.
    for (const s of streams) {
      await s.waitFor((e) => e.event.case === "broadcast", 30_000);
    }
    for (const s of streams) {
      const got = s.events.filter((e) => e.event.case === "broadcast");
      expect(got).toHaveLength(1);
      expect(got[0]?.event.value).toMatchObject({ taskId, body: [text("Big sale")] });
    }
    expect(outsiderStream.events.some((e) => e.event.case === "broadcast")).toBe(false);
  }, 600_000);

  it("stops after Cancel: no batch starts once the one in progress ends", async () => {
    const { fcm, env, namespace } = await world();
    const app = await startTestApp(env);
    cleanups.push(() => app.close());
    const n = 3000;
    await seed(app.storage, n, (i) => i % 20 === 0);
    fcm.holdAfter = 2 * CHUNK;
    const started = await broadcasts(app.baseUrl).startBroadcast({
      audience: { case: "tags", value: { tags: ["fans"], matchAll: true } },
      body: [text("Hello fans")],
    });
    const taskId = started.task?.taskId ?? "";
    await eventually(async () => expect(fcm.delivered).toHaveLength(3 * CHUNK), 60_000);
    const cancelled = (await broadcasts(app.baseUrl).cancelBroadcast({ taskId })).task;
    expect(cancelled?.state).toBe(BroadcastState.CANCELLED);
    expect(cancelled?.finishedAtMs).toBeGreaterThan(0n);
    fcm.release();
    // The batch in progress finishes its pushes, records nothing and publishes no next batch.
    await eventually(async () => {
      expect(fcm.answered).toHaveLength(50);
      expect(
        await consumerIdle(testNatsUrl(), `${namespace}-broadcast`, `${namespace}-broadcast`),
      ).toBe(true);
    }, 60_000);
    const after = (await broadcasts(app.baseUrl).getBroadcast({ taskId })).task;
    expect(after).toMatchObject({ state: BroadcastState.CANCELLED, targeted: 0n, pushed: 50n });
    expect(fcm.delivered).toHaveLength(50);
  }, 300_000);
});

describe("a node killed mid-task", () => {
  it("pushes nothing twice and skips nothing: another node takes the batch over", async () => {
    const { fcm, env } = await world();
    const storage = await openMongoStorage(env.MONGO_URL, env.MONGO_DATABASE);
    cleanups.push(() => storage.close());
    const n = 3000;
    const ids = await seed(storage, n, (i) => i % 20 === 0);
    const doomed = await startServerProcess(env);
    cleanups.push(() => doomed.kill());

    // The provider stalls on the fourth chunk of the second batch (50 phones a batch); the node dies
    // with that chunk claimed and in flight (the provider has every request of it).
    fcm.holdAfter = 8 * CHUNK;
    const started = await broadcasts(doomed.baseUrl).startBroadcast({
      audience: { case: "tags", value: { tags: ["fans"] } },
      body: [text("To every fan")],
    });
    const taskId = started.task?.taskId ?? "";
    await eventually(async () => expect(fcm.delivered).toHaveLength(9 * CHUNK), 120_000);
    await doomed.kill("SIGKILL");
    fcm.release();

    // Another node gets the unacked batch again (after the consumer's ack wait).
    const heir = await startTestApp(env);
    cleanups.push(() => heir.close());
    await eventually(
      async () => {
        const t = (await broadcasts(heir.baseUrl).getBroadcast({ taskId })).task;
        expect(t?.state).toBe(BroadcastState.DONE);
      },
      240_000,
      200,
    );
    const byToken = pushesByToken(fcm);
    const expected = ids.filter((_, i) => i % 20 === 0).map(tokenOf);
    expect([...byToken.keys()].sort()).toEqual(expected.sort());
    expect([...byToken.entries()].filter(([, c]) => c !== 1)).toEqual([]);
    const done = (await broadcasts(heir.baseUrl).getBroadcast({ taskId })).task;
    // The chunk in flight at the kill was pushed but its outcome never counted.
    expect(done).toMatchObject({ targeted: BigInt(n), pushed: BigInt(150 - CHUNK), failed: 0n });
  }, 400_000);
});
