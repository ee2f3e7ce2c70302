import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Two server instances sharing one MongoDB database and one NATS namespace,
// as two nodes of one deployment.
let nodeA: TestApp;
let nodeB: TestApp;
beforeAll(async () => {
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("multinode"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("multinode"),
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
});
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

it("delivers a message sent on node A to the recipient streaming on node B, and to devices on both", async () => {
  const bobOnB = await openStream(nodeB.baseUrl, "bob", "bob-phone");
  const bobOnA = await openStream(nodeA.baseUrl, "bob", "bob-web", "grpc-web");
  const aliceOtherDeviceOnB = await openStream(nodeB.baseUrl, "alice", "alice-tablet");
  const sent = await clientAs(MessageService, nodeA.baseUrl, "alice").sendMessage({
    toUserId: "bob",
    body: [text("across nodes")],
  });
  for (const stream of [bobOnB, bobOnA, aliceOtherDeviceOnB]) {
    const [m] = await stream.waitForMessages(1);
    expect([m?.conversationId, m?.seq]).toEqual([sent.conversationId, sent.seq]);
  }
  // Each event is fanned out once across the nodes: no device sees it twice.
  await new Promise((r) => setTimeout(r, 300));
  expect([bobOnB, bobOnA, aliceOtherDeviceOnB].map((s) => s.messages().length)).toEqual([1, 1, 1]);
  for (const s of [bobOnB, bobOnA, aliceOtherDeviceOnB]) s.close();
});

it("answers a retry that lands on the other node with the original message", async () => {
  const onA = clientAs(MessageService, nodeA.baseUrl, "alice");
  const onB = clientAs(MessageService, nodeB.baseUrl, "alice");
  const first = await onA.sendMessage({
    toUserId: "bob",
    body: [text("once")],
    clientMessageId: "x-node-1",
  });
  const retry = await onB.sendMessage({
    toUserId: "bob",
    body: [text("once")],
    clientMessageId: "x-node-1",
  });
  expect([retry.seq, retry.messageKey, retry.duplicate]).toEqual([
    first.seq,
    first.messageKey,
    true,
  ]);
  // Concurrent sends on both nodes share one strictly increasing sequence.
  const burst = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? onA : onB).sendMessage({ toUserId: "bob", body: [text(`b${i}`)] }),
    ),
  );
  const seqs = burst.map((r) => Number(r.seq)).sort((x, y) => x - y);
  expect(new Set(seqs).size).toBe(10);
  await eventually(async () => {
    const synced = await clientAs(MessageService, nodeB.baseUrl, "bob").syncMessages({
      peerUserId: "alice",
    });
    const all = synced.messages.map((m) => Number(m.seq));
    expect(all).toEqual([...all].sort((x, y) => x - y));
    expect(synced.messages.filter((m) => m.clientMessageId === "x-node-1")).toHaveLength(1);
    expect(all).toEqual(expect.arrayContaining(seqs));
  });
});

it("never hands out a seq twice when both nodes' batches write one conversation at once", async () => {
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "carol" }, { userId: "dave" }],
  });
  const onA = clientAs(MessageService, nodeA.baseUrl, "carol");
  const onB = clientAs(MessageService, nodeB.baseUrl, "carol");
  // Enough concurrent sends that each node writes batches of several while
  // the other does: seqs come from one shared space, each stored once.
  const sent = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      (i % 2 ? onA : onB).sendMessage({
        toUserId: "dave",
        body: [text(`c${i}`)],
        clientMessageId: `burst-${i}`,
      }),
    ),
  );
  const seqs = sent.map((r) => Number(r.seq));
  expect(new Set(seqs).size).toBe(60);
  const synced = await clientAs(MessageService, nodeB.baseUrl, "dave").syncMessages({
    peerUserId: "carol",
    limit: 100,
  });
  const stored = synced.messages.map((m) => [Number(m.seq), m.clientMessageId]);
  expect(stored.map(([s]) => s)).toEqual([...seqs].sort((x, y) => x - y));
  // Each acked seq holds the message its sender was told it holds.
  const told = new Map(sent.map((r, i) => [Number(r.seq), `burst-${i}`]));
  for (const [seq, id] of stored) expect(told.get(seq as number)).toBe(id);
});
