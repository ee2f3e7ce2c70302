import { afterAll, beforeAll, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
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
  const { bob, sendSeveral } = await world.bobOnB();
  const before = await world.streamLastSeq();
  const seqs = await sendSeveral(5);
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
