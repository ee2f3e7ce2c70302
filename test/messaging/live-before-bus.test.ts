import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { eventually } from "../support/eventually.js";
import type { OpenStream } from "../support/streams.js";
import { startTwoNodes, type TwoNodes } from "./two-nodes.js";

// Live delivery is done by the node that stored the message, before JetStream:
// devices get messages while the messages stream takes no publishes (as during a
// cluster's leader election), and the fan-out the outbox republishes later still
// runs. Two nodes on FerretDB + nats-server: sends through A, devices on B.
// The after-send webhook is on, so fan-out has work and every message goes
// through JetStream (without any, see live-only-fanout.test.ts).

let world: TwoNodes;
let subjects: string[];
let hook: TestServer;

beforeAll(async () => {
  hook = await startTestServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  world = await startTwoNodes("livefirst", {
    WEBHOOK_URL: hook.url,
    WEBHOOK_SECRET: "s3cret",
    WEBHOOK_EVENTS: "c2c-after-send,group-after-send",
  });
  subjects = (await world.jsm.streams.info(world.stream)).config.subjects ?? [];
});
afterAll(async () => {
  await world?.close();
  await hook?.close();
});

/** Runs `during` while the messages stream listens on no subject of ours (publishes fail). */
async function withStreamDeaf<T>(during: () => Promise<T>): Promise<T> {
  const { jsm, stream, ns } = world;
  const { config } = await jsm.streams.info(stream);
  await jsm.streams.update(stream, { ...config, subjects: [`${ns}.deaf`] });
  try {
    return await during();
  } finally {
    await jsm.streams.update(stream, { ...config, subjects });
  }
}

const liveSeqs = (device: OpenStream) => device.messages().map((m) => Number(m.seq));

/**
 * Waits until the stream holds a message past `baseline` and the fan-out
 * consumer has acked every message of the stream (the lists no longer show it:
 * they are read from the stored messages, with or without fan-out).
 */
async function fannedOutBeyond(baseline: number) {
  await eventually(async () => {
    const last = await world.streamLastSeq();
    expect(last).toBeGreaterThan(baseline);
    const fanout = await world.jsm.consumers.info(world.stream, `${world.ns}-fanout`);
    expect(fanout.ack_floor.stream_seq).toBeGreaterThanOrEqual(last);
  }, 30_000);
}

it("delivers a one-to-one message live while JetStream refuses it, then fans it out once back", async () => {
  const { bob, send } = await world.bobOnB();
  const before = await world.streamLastSeq();
  await withStreamDeaf(async () => {
    const seq = await send("during");
    await bob.waitFor(
      (e) => e.event.case === "message" && Number(e.event.value.seq) === seq,
      30_000,
    );
    // Nothing reached the stream meanwhile.
    expect(await world.streamLastSeq()).toBe(before);
  });
  // Republished by the outbox once the stream listens again, and fanned out.
  await fannedOutBeyond(before);
});

it("delivers each message once in steady state (fan-out skips what the storing node sent)", async () => {
  const { bob, send, sendSeveral } = await world.bobOnB();
  const before = await world.streamLastSeq();
  const seqs = await sendSeveral(5);
  // Every fan-out has run once the consumer acked it; a duplicate live event
  // from one would have been published before its ack.
  await fannedOutBeyond(before + seqs.length - 1);
  // A message sent after that reaches bob's device behind any such duplicate.
  const marker = await send("marker");
  await bob.waitFor(
    (e) => e.event.case === "message" && Number(e.event.value.seq) === marker,
    30_000,
  );
  expect(liveSeqs(bob).filter((seq) => seq >= (seqs[0] ?? 0))).toEqual([...seqs, marker]);
});

it("delivers a group message live while JetStream refuses it", async () => {
  const group = await world.groupWithMemberOnB("live-first");
  await withStreamDeaf(() => group.sendAndSee("during"));
});
