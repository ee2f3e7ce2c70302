import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { GroupMessageKind, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { groupClients, openGroupStream } from "../groups/support.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// With no after-send webhook and no push provider, fan-out of a message the
// storing node delivered live has nothing left to do: the outbox clears its
// mark once nats-server confirmed the live event, and nothing goes through
// JetStream. Two nodes on FerretDB + nats-server: sends through A, devices on B.

const ns = uniqueName("liveonly");
const stream = `${ns}-messages`;
let nodeA: TestApp;
let nodeB: TestApp;
let nc: NatsConnection;
let jsm: JetStreamManager;
const devices: { close(): void }[] = [];

beforeAll(async () => {
  const env = {
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
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
});
afterAll(async () => {
  for (const d of devices) d.close();
  await nc?.close();
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

const streamLastSeq = async () => (await jsm.streams.info(stream)).state.last_seq;
/** Messages of any node still marked unpublished, of both kinds. */
const unpublished = async () =>
  (await nodeA.storage.messages.countUnpublished(Date.now() + 60_000)) +
  (await nodeA.storage.groupMessages.countUnpublished(Date.now() + 60_000));

it("delivers one-to-one messages once, live, and clears their marks without JetStream", async () => {
  const bob = await openStream(nodeB.baseUrl, "bob");
  devices.push(bob);
  const alice = clientAs(MessageService, nodeA.baseUrl, "alice");
  const before = await streamLastSeq();
  const seqs: number[] = [];
  for (let i = 0; i < 5; i++) {
    seqs.push(Number((await alice.sendMessage({ toUserId: "bob", body: [text(`m${i}`)] })).seq));
  }
  await eventually(async () => expect(await unpublished()).toBe(0), 30_000);
  // Marks cleared, not republished by the store pass: nothing reached the stream.
  expect(await streamLastSeq()).toBe(before);
  const last = seqs.at(-1);
  await bob.waitFor((e) => e.event.case === "message" && Number(e.event.value.seq) === last);
  expect(bob.messages().map((m) => Number(m.seq))).toEqual(seqs);
});

it("does the same for group messages", async () => {
  const groups = await groupClients(nodeA, ["gowner", "gmember"]);
  const groupId = "live-only";
  await groups.as("gowner").createGroup({
    type: GroupType.COMMUNITY,
    name: "g",
    groupId,
    memberUserIds: ["gmember"],
  });
  const member = await openGroupStream(nodeB, "gmember");
  devices.push(member);
  const before = await streamLastSeq();
  const sent = await groups.as("gowner").sendGroupMessage({ groupId, body: [text("hi")] });
  await member.waitFor(
    (e) =>
      e.event.case === "groupMessage" &&
      e.event.value.kind === GroupMessageKind.NORMAL &&
      e.event.value.seq === sent.seq,
    30_000,
  );
  await eventually(async () => expect(await unpublished()).toBe(0), 30_000);
  expect(await streamLastSeq()).toBe(before);
});
