import { afterEach, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { openMongoStorage } from "../../src/storage/storage.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { startFakeApns } from "../support/fake-apns.js";
import { consumerIdle, fakeProvidersEnv } from "../support/push.js";
import { startServerProcess } from "../support/server-process.js";
import { ADMIN } from "../support/test-app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const BUNDLE = "com.example.chat";
/** The most members a group may be created with. */
const MEMBERS = 100;
/** Notifications a node sends at once (PUSH_CONCURRENCY): the victim holds one such chunk at the kill. */
const CHUNK = 8;

const tokenOf = (i: number) => (i + 1).toString(16).padStart(64, "0");

describe("a node killed mid push job", () => {
  it("is taken over by another node: every device gets exactly one push", async () => {
    // Each node has its own fake, so the test knows who pushed.
    const [victimApns, heirApns] = await Promise.all([
      startFakeApns({ topics: [BUNDLE] }),
      startFakeApns({ topics: [BUNDLE] }),
    ]);
    cleanups.push(
      () => victimApns.close(),
      () => heirApns.close(),
    );
    const database = uniqueName("pushtk");
    const shared = {
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: database,
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("pushtk"),
      // Many batch jobs, each several chunks: the victim is mid-job in all of them at once.
      PUSH_BATCH_SIZE: "10",
      PUSH_CONCURRENCY: String(CHUNK),
      // A held request must not time out and be retried (that would be a second delivery).
      PUSH_MAX_ATTEMPTS: "1",
      PUSH_REQUEST_TIMEOUT_MS: "120000",
    };

    const members = Array.from({ length: MEMBERS }, (_, i) => `m${String(i).padStart(4, "0")}`);
    const storage = await openMongoStorage(testMongoUrl(), database);
    cleanups.push(() => storage.close());

    // Every request the victim makes is held by its provider: it dies mid-job.
    victimApns.holdAfter = 0;
    const victim = await startServerProcess({
      ...shared,
      ...fakeProvidersEnv({ apns: victimApns }),
    });
    cleanups.push(() => victim.kill());
    const admin = clientAs(AccountService, victim.baseUrl, ADMIN);
    const accounts = ["sender", ...members].map((userId) => ({ userId }));
    for (let i = 0; i < accounts.length; i += 100) {
      await admin.importAccounts({ accounts: accounts.slice(i, i + 100) });
    }
    // Registered and without a stream: PushOnline on the phone.
    for (let i = 0; i < members.length; i += 20) {
      await Promise.all(
        members
          .slice(i, i + 20)
          .map((id, j) =>
            storage.pushTokens.upsertPushRegistration(
              id,
              "phone",
              { channel: "apns", token: tokenOf(i + j), environment: "sandbox", bundleId: BUNDLE },
              1,
            ),
          ),
      );
    }
    const groups = clientAs(GroupService, victim.baseUrl, "sender");
    await groups.createGroup({
      groupId: "takeover",
      type: GroupType.PUBLIC,
      name: "Takeover",
      memberUserIds: members,
    });
    await groups.sendGroupMessage({ groupId: "takeover", body: [text("who gets this?")] });

    // The victim has a full chunk at its provider, unanswered, and its other jobs wait behind it.
    await eventually(async () => expect(victimApns.delivered).toHaveLength(CHUNK), 60_000);
    const heir = await startServerProcess({ ...shared, ...fakeProvidersEnv({ apns: heirApns }) });
    cleanups.push(() => heir.kill());
    await victim.kill("SIGKILL");
    const killedAt = Date.now();

    const byToken = new Map<string, number>();
    const count = () => {
      byToken.clear();
      for (const d of [...victimApns.delivered, ...heirApns.delivered]) {
        byToken.set(d.token, (byToken.get(d.token) ?? 0) + 1);
      }
    };
    await eventually(
      async () => {
        count();
        expect(byToken.size).toBe(MEMBERS);
      },
      120_000,
      100,
    );
    const lastPushAt = Math.max(...heirApns.delivered.map((d) => d.at));
    console.log(
      `push takeover: ${heirApns.delivered.length} pushes by the heir, ${victimApns.delivered.length} held by the victim; kill -> last push ${lastPushAt - killedAt} ms`,
    );
    // Whatever the heir still had to do is done once the push consumer is idle.
    await eventually(async () =>
      expect(
        await consumerIdle(
          testNatsUrl(),
          `${shared.NATS_NAMESPACE}-push`,
          `${shared.NATS_NAMESPACE}-push`,
        ),
      ).toBe(true),
    );
    count();
    expect([...byToken.keys()].sort()).toEqual(members.map((_, i) => tokenOf(i)).sort());
    expect([...byToken.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(victimApns.delivered).toHaveLength(CHUNK);
  }, 300_000);
});
