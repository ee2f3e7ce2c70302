import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { GroupMessageKind, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { groupClients, openGroupStream } from "../groups/support.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Live delivery is done by the node that stored the message, before JetStream:
// devices get messages while the messages stream takes no publishes (as during a
// cluster's leader election), and the fan-out the outbox republishes later still
// runs. Two nodes on FerretDB + nats-server: sends through A, devices on B.
// The after-send webhook is on, so fan-out has work and every message goes
// through JetStream (without any, see live-only-fanout.test.ts).

const ns = uniqueName("livefirst");
const stream = `${ns}-messages`;
let nodeA: TestApp;
let nodeB: TestApp;
let nc: NatsConnection;
let jsm: JetStreamManager;
let subjects: string[];
const devices: { close(): void }[] = [];
let hook: TestServer;

beforeAll(async () => {
  hook = await startTestServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  const env = {
    WEBHOOK_URL: hook.url,
    WEBHOOK_SECRET: "s3cret",
    WEBHOOK_EVENTS: "c2c-after-send,group-after-send",
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: ns,
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: ns,
    OUTBOX_INTERVAL_MS: "100",
    OUTBOX_STALE_MS: "200",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
  nc = await connect({ servers: testNatsUrl() });
  jsm = await jetstreamManager(nc);
  subjects = (await jsm.streams.info(stream)).config.subjects ?? [];
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
});
afterAll(async () => {
  for (const d of devices) d.close();
  await nc?.close();
  await Promise.all([nodeA?.close(), nodeB?.close()]);
  await hook?.close();
});

/** Runs `during` while the messages stream listens on no subject of ours (publishes fail). */
async function withStreamDeaf<T>(during: () => Promise<T>): Promise<T> {
  const { config } = await jsm.streams.info(stream);
  await jsm.streams.update(stream, { ...config, subjects: [`${ns}.deaf`] });
  try {
    return await during();
  } finally {
    await jsm.streams.update(stream, { ...config, subjects });
  }
}

const liveSeqs = (device: OpenStream) => device.messages().map((m) => Number(m.seq));

/** The stream's last seq now (a baseline for `fannedOutBeyond`). */
const streamLastSeq = async () => (await jsm.streams.info(stream)).state.last_seq;

/**
 * Waits until the stream holds a message past `baseline` and the fan-out
 * consumer has acked every message of the stream (the lists no longer show it:
 * they are read from the stored messages, with or without fan-out).
 */
async function fannedOutBeyond(baseline: number) {
  await eventually(async () => {
    const last = await streamLastSeq();
    expect(last).toBeGreaterThan(baseline);
    const fanout = await jsm.consumers.info(stream, `${ns}-fanout`);
    expect(fanout.ack_floor.stream_seq).toBeGreaterThanOrEqual(last);
  }, 30_000);
}

it("delivers a one-to-one message live while JetStream refuses it, then fans it out once back", async () => {
  const bob = await openStream(nodeB.baseUrl, "bob");
  devices.push(bob);
  const alice = clientAs(MessageService, nodeA.baseUrl, "alice");
  const before = await streamLastSeq();
  await withStreamDeaf(async () => {
    const sent = await alice.sendMessage({ toUserId: "bob", body: [text("during")] });
    await bob.waitFor((e) => e.event.case === "message" && e.event.value.seq === sent.seq, 30_000);
    // Nothing reached the stream meanwhile.
    expect(await streamLastSeq()).toBe(before);
  });
  // Republished by the outbox once the stream listens again, and fanned out.
  await fannedOutBeyond(before);
});

it("delivers each message once in steady state (fan-out skips what the storing node sent)", async () => {
  const bob = await openStream(nodeB.baseUrl, "bob");
  devices.push(bob);
  const alice = clientAs(MessageService, nodeA.baseUrl, "alice");
  const before = await streamLastSeq();
  const seqs: number[] = [];
  for (let i = 0; i < 5; i++) {
    seqs.push(Number((await alice.sendMessage({ toUserId: "bob", body: [text(`m${i}`)] })).seq));
  }
  // Every fan-out has run once the consumer acked it; a duplicate live event
  // from one would have been published before its ack.
  await fannedOutBeyond(before + seqs.length - 1);
  // A message sent after that reaches bob's device behind any such duplicate.
  const marker = await alice.sendMessage({ toUserId: "bob", body: [text("marker")] });
  await bob.waitFor((e) => e.event.case === "message" && e.event.value.seq === marker.seq, 30_000);
  expect(liveSeqs(bob).filter((seq) => seq >= (seqs[0] ?? 0))).toEqual([
    ...seqs,
    Number(marker.seq),
  ]);
});

it("delivers a group message live while JetStream refuses it", async () => {
  const groups = await groupClients(nodeA, ["gowner", "gmember"]);
  const groupId = "live-first";
  await groups.as("gowner").createGroup({
    type: GroupType.COMMUNITY,
    name: "g",
    groupId,
    memberUserIds: ["gmember"],
  });
  const member = await openGroupStream(nodeB, "gmember");
  devices.push(member);
  await withStreamDeaf(async () => {
    const sent = await groups.as("gowner").sendGroupMessage({ groupId, body: [text("during")] });
    await member.waitFor(
      (e) =>
        e.event.case === "groupMessage" &&
        e.event.value.kind === GroupMessageKind.NORMAL &&
        e.event.value.seq === sent.seq,
      30_000,
    );
  });
});
