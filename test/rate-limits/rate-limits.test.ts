import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorDetailSchema, ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { ReceiptService } from "../../src/gen/im/v1/receipts_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

const WINDOW_MS = 60_000;
const LIMITS = {
  RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
  RATE_LIMIT_SENDS: "3",
  RATE_LIMIT_HISTORY: "2",
  RATE_LIMIT_SESSIONS: "2",
};
/** The retry-after hint of a RATE_LIMITED failure. */
const retryAfterOf = (err: ConnectError) => err.findDetails(ErrorDetailSchema)[0]?.retryAfterMs;

let n = 0;
const newUsers = async (baseUrl: string, count: number) => {
  const ids = Array.from(
    { length: count },
    () => `rl${++n}_${Math.random().toString(36).slice(2, 8)}`,
  );
  await clientAs(AccountService, baseUrl, ADMIN).importAccounts({
    accounts: ids.map((userId) => ({ userId })),
  });
  return ids as [string, string, string];
};

describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("rl"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("rl"),
    }),
  ],
])("per-user rate limits on %s", (_name, env) => {
  let app: TestApp;
  // Time stands still unless a test moves it: windows never roll over by accident.
  const windowStart = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
  let now = windowStart + 15_000;
  const users = (count: number) => newUsers(app.baseUrl, count);
  const messages = (user: string) => clientAs(MessageService, app.baseUrl, user);

  beforeAll(async () => {
    app = await startTestApp({ ...env(), ...LIMITS }, { clock: () => now });
  });
  afterAll(() => app?.close());

  it("limits sends of both kinds together per user and window, with a retry-after hint; a new window starts afresh", async () => {
    now = windowStart + 15_000;
    const [a, b] = await users(2);
    const groupId = uniqueName("g").slice(0, 40);
    await clientAs(GroupService, app.baseUrl, ADMIN).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      ownerUserId: a,
      memberUserIds: [b],
    });
    await messages(a).sendMessage({ toUserId: b, body: [text("1")] });
    await messages(a).sendMessage({ toUserId: b, body: [text("2")] });
    await clientAs(GroupService, app.baseUrl, a).sendGroupMessage({ groupId, body: [text("3")] });
    const limited = await failureOf(messages(a).sendMessage({ toUserId: b, body: [text("4")] }));
    expect(limited).toMatchObject({
      code: Code.ResourceExhausted,
      reason: ErrorReason.RATE_LIMITED,
    });
    expect(retryAfterOf(limited.err)).toBe(WINDOW_MS - 15_000);
    const group = await failureOf(
      clientAs(GroupService, app.baseUrl, a).sendGroupMessage({ groupId, body: [text("5")] }),
    );
    expect(group.reason).toBe(ErrorReason.RATE_LIMITED);
    // Nothing of the refused sends was stored.
    const history = await messages(b).listMessages({ peerUserId: a });
    expect(history.messages.map((m) => m.body[0]?.element.value)).toHaveLength(2);
    // Another user has a budget of their own.
    await messages(b).sendMessage({ toUserId: a, body: [text("b1")] });
    // The next window admits the user again.
    now = windowStart + WINDOW_MS;
    await messages(a).sendMessage({ toUserId: b, body: [text("6")] });
  });

  it("exempts app administrators", async () => {
    const [, b] = await users(2);
    for (let i = 0; i < 5; i++) {
      await clientAs(MessageService, app.baseUrl, ADMIN).sendMessage({
        toUserId: b,
        body: [text(`admin ${i}`)],
      });
    }
  });

  it("limits history queries", async () => {
    const [a, b] = await users(2);
    await messages(a).listMessages({ peerUserId: b });
    await messages(a).syncMessages({ peerUserId: b, afterSeq: 0n });
    const limited = await failureOf(messages(a).listConversations({}));
    expect(limited).toMatchObject({
      code: Code.ResourceExhausted,
      reason: ErrorReason.RATE_LIMITED,
    });
    expect(retryAfterOf(limited.err)).toBeGreaterThan(0);
  });

  it("counts one-to-one receipt queries as history queries", async () => {
    const [a, b] = await users(2);
    const receipts = clientAs(ReceiptService, app.baseUrl, a);
    await receipts.getC2CReceipts({ peerUserId: b });
    await messages(a).listMessages({ peerUserId: b });
    const limited = await failureOf(receipts.getC2CReceipts({ peerUserId: b }));
    expect(limited).toMatchObject({
      code: Code.ResourceExhausted,
      reason: ErrorReason.RATE_LIMITED,
    });
  });

  it("limits logins (opening live streams) and group join/leave", async () => {
    const [a, owner] = await users(2);
    const s1 = await openStream(app.baseUrl, a, "d1");
    const s2 = await openStream(app.baseUrl, a, "d2");
    const third = await failureOf(openStream(app.baseUrl, a, "d3"));
    expect(third).toMatchObject({ code: Code.ResourceExhausted, reason: ErrorReason.RATE_LIMITED });
    expect(retryAfterOf(third.err)).toBeGreaterThan(0);
    s1.close();
    s2.close();
    // Joining and leaving groups count in the same class.
    const [c] = await users(1);
    const groupId = uniqueName("g").slice(0, 40);
    await clientAs(GroupService, app.baseUrl, ADMIN).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      ownerUserId: owner,
    });
    const groups = clientAs(GroupService, app.baseUrl, c);
    await groups.applyJoinGroup({ groupId });
    // Not a member (the application is pending): refused, but counted.
    const quit = await failureOf(groups.quitGroup({ groupId }));
    expect(quit.reason).not.toBe(ErrorReason.RATE_LIMITED);
    const limited = await failureOf(groups.applyJoinGroup({ groupId }));
    expect(limited).toMatchObject({
      code: Code.ResourceExhausted,
      reason: ErrorReason.RATE_LIMITED,
    });
  });
});

describe("per-user rate limits across two nodes on FerretDB + nats-server", () => {
  let nodes: [TestApp, TestApp];
  // One frozen clock for both nodes: the sends fall in one window.
  const now = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 15_000;
  beforeAll(async () => {
    const env = {
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("rl2"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("rl2"),
      ...LIMITS,
      RATE_LIMIT_SENDS: "4",
    };
    const clock = { clock: () => now };
    nodes = (await Promise.all([startTestApp(env, clock), startTestApp(env, clock)])) as [
      TestApp,
      TestApp,
    ];
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map((node) => node?.close()));
  });

  it("one budget per user for the whole cluster: of 10 concurrent sends spread over both nodes, 4 succeed", async () => {
    const [a, b] = await newUsers(nodes[0].baseUrl, 2);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        clientAs(MessageService, nodes[i % 2]?.baseUrl ?? "", a).sendMessage({
          toUserId: b,
          body: [text(`m${i}`)],
        }),
      ),
    );
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.flatMap((o) =>
      o.status === "rejected" ? [ConnectError.from(o.reason)] : [],
    );
    expect(ok).toHaveLength(4);
    expect(refused).toHaveLength(6);
    for (const err of refused) {
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(err.findDetails(ErrorDetailSchema)[0]?.reason).toBe(ErrorReason.RATE_LIMITED);
    }
  });
});
