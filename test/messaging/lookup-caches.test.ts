import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { RelationService } from "../../src/gen/im/v1/relation_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf, sigFor, transportFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Two nodes of one deployment (FerretDB + nats-server) whose send-path caches
// would serve their answers for an hour: only the invalidation over the bus can
// make node B see a change made through node A. Each test first warms node B's
// caches with a send that passes, then changes the fact on node A.
let nodeA: TestApp;
let nodeB: TestApp;
beforeAll(async () => {
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("lookups"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("lookups"),
    LOOKUP_CACHE_TTL_MS: "3600000",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
});
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

let next = 0;
async function users(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => `lc${++next}`);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: ids.map((userId) => ({ userId })),
  });
  return ids;
}
const sendOnB = (from: string, to: string, sig = sigFor(from)) =>
  createClient(MessageService, transportFor("connect-h2", nodeB.baseUrl, sig)).sendMessage({
    toUserId: to,
    body: [text("hi")],
  });

it("refuses on node B a sender blocked on node A, and lets it through again once unblocked", async () => {
  const [alice, bob] = await users(2);
  expect((await sendOnB(alice!, bob!)).seq).toBeGreaterThan(0n);
  await clientAs(RelationService, nodeA.baseUrl, bob).addToBlocklist({ userIds: [alice!] });
  // The hang guard only covers the bus carrying the change to node B.
  await eventually(async () => {
    const f = await failureOf(sendOnB(alice!, bob!));
    expect(f.reason).toBe(ErrorReason.SENDER_BLOCKED);
  });
  await clientAs(RelationService, nodeA.baseUrl, bob).removeFromBlocklist({ userIds: [alice!] });
  await eventually(async () => expect((await sendOnB(alice!, bob!)).seq).toBeGreaterThan(0n));
});

it("refuses on node B a recipient, and the caller itself, deleted on node A", async () => {
  const [alice, bob, carol] = await users(3);
  await sendOnB(alice!, bob!);
  await sendOnB(carol!, alice!);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).deleteAccounts({ userIds: [bob!, carol!] });
  await eventually(async () => {
    const f = await failureOf(sendOnB(alice!, bob!));
    expect(f.reason).toBe(ErrorReason.RECIPIENT_NOT_FOUND);
  });
  await eventually(async () => {
    const f = await failureOf(sendOnB(carol!, alice!));
    expect(f.reason).toBe(ErrorReason.ACCOUNT_NOT_FOUND);
  });
});

it("refuses on node B a UserSig invalidated on node A", async () => {
  const [alice, bob] = await users(2);
  const oldSig = sigFor(alice!, { issuedAtSec: Math.floor(Date.now() / 1000) - 60 });
  await sendOnB(alice!, bob!, oldSig);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).invalidateUserSigs({ userId: alice! });
  await eventually(async () => {
    const f = await failureOf(sendOnB(alice!, bob!, oldSig));
    expect(f.reason).toBe(ErrorReason.SIG_REVOKED);
  });
});
