import { afterAll, beforeAll, expect, it } from "vitest";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { startTwoNodes, type TwoNodes } from "./two-nodes.js";

// With no after-send webhook and no push provider, fan-out of a message the
// storing node delivered live has nothing left to do: the outbox clears its
// mark once nats-server confirmed the live event, and nothing goes through
// JetStream. Two nodes on FerretDB + nats-server: sends through A, devices on B.

let world: TwoNodes;
beforeAll(async () => {
  world = await startTwoNodes("liveonly");
});
afterAll(() => world?.close());

/** Messages of any node still marked unpublished, of both kinds. */
const unpublished = async () =>
  (await world.nodeA.storage.messages.countUnpublished(Date.now() + 60_000)) +
  (await world.nodeA.storage.groupMessages.countUnpublished(Date.now() + 60_000));

it("delivers one-to-one messages once, live, and clears their marks without JetStream", async () => {
  const bob = await openStream(world.nodeB.baseUrl, "bob");
  world.devices.push(bob);
  const alice = clientAs(MessageService, world.nodeA.baseUrl, "alice");
  const before = await world.streamLastSeq();
  const seqs: number[] = [];
  for (let i = 0; i < 5; i++) {
    seqs.push(Number((await alice.sendMessage({ toUserId: "bob", body: [text(`m${i}`)] })).seq));
  }
  await eventually(async () => expect(await unpublished()).toBe(0), 30_000);
  // Marks cleared, not republished by the store pass: nothing reached the stream.
  expect(await world.streamLastSeq()).toBe(before);
  const last = seqs.at(-1);
  await bob.waitFor((e) => e.event.case === "message" && Number(e.event.value.seq) === last);
  expect(bob.messages().map((m) => Number(m.seq))).toEqual(seqs);
});

it("does the same for group messages", async () => {
  const group = await world.groupWithMemberOnB("live-only");
  const before = await world.streamLastSeq();
  await group.sendAndSee("hi");
  await eventually(async () => expect(await unpublished()).toBe(0), 30_000);
  expect(await world.streamLastSeq()).toBe(before);
});
