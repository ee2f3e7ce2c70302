import type { Client } from "@connectrpc/connect";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { type Message, MessageService } from "../../src/gen/im/v1/message_pb.js";
import {
  type NatsCluster,
  type ServiceProcess,
  startNatsCluster,
  testMongoUrl,
  uniqueName,
} from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { startServerProcess } from "../support/server-process.js";
import { type SteadySender, steadySender } from "../support/steady-sender.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN } from "../support/test-app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** The bound: live delivery is back this soon after a server of the cluster dies. */
const LIVE_RESUME_MAX_MS = 5_000;
/** The longest run of failed sends we accept around a fault ("a few seconds"). */
const SEND_OUTAGE_MAX_MS = 5_000;

/** Fast outbox timings so republishing after an election happens within the test. */
const OUTBOX = { OUTBOX_INTERVAL_MS: "200", OUTBOX_STALE_MS: "300" };

/** Every message of the conversation, paging SyncMessages from `after` to the end. */
async function syncFrom(client: Client<typeof MessageService>, after = 0n): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const page = await client.syncMessages({ peerUserId: "alice", afterSeq: after });
    all.push(...page.messages);
    if (!page.hasMore) return all;
    after = page.coveredUpToSeq;
  }
}

/**
 * The name of the server leading a stream, or with `durable` one of its consumers
 * (JetStream's `cluster.leader`), once it has one.
 */
async function leaderOf(jsm: JetStreamManager, stream: string, durable?: string): Promise<string> {
  return eventually(
    async () => {
      const info =
        durable === undefined
          ? await jsm.streams.info(stream)
          : await jsm.consumers.info(stream, durable);
      const leader = info.cluster?.leader;
      expect(leader).toBeTruthy();
      return leader as string;
    },
    30_000,
    20,
  );
}

interface Recovery {
  /** From the kill until bob's device sees, live, a message acked after the kill. */
  liveResumeMs: number;
  /** From the kill until the stream, and the fan-out consumer, have a leader again. */
  streamLeaderMs: number;
  consumerLeaderMs: number;
}

async function killAndMeasure(
  victim: ServiceProcess,
  sender: SteadySender,
  bobDevice: OpenStream,
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<Recovery> {
  await victim.stop("SIGKILL");
  const killedAt = Date.now();
  const since = () => Date.now() - killedAt;
  const streamLeader = leaderOf(jsm, stream).then(since);
  const consumerLeader = leaderOf(jsm, stream, durable).then(since);
  await bobDevice.waitFor(
    (e) =>
      e.event.case === "message" && sender.ackedAfter(killedAt).has(e.event.value.clientMessageId),
    60_000,
  );
  return {
    liveResumeMs: since(),
    streamLeaderMs: await streamLeader,
    consumerLeaderMs: await consumerLeader,
  };
}

describe("on a three-server NATS cluster with R3 streams", () => {
  it("loses no acked message when the stream leader and then a non-leader are killed -9", async () => {
    const cluster: NatsCluster = await startNatsCluster(3);
    cleanups.push(() => cluster.dispose());
    const ns = uniqueName("natscl");
    const stream = `${ns}-messages`;
    const durable = `${ns}-fanout`;
    const env = {
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("natscl"),
      NATS_URL: cluster.url,
      NATS_NAMESPACE: ns,
      NATS_STREAM_REPLICAS: "3",
      ...OUTBOX,
    };
    // Two server nodes: alice sends through one, bob's device streams from the other.
    const nodeA = await startServerProcess(env);
    cleanups.push(() => nodeA.kill());
    const nodeB = await startServerProcess(env);
    cleanups.push(() => nodeB.kill());

    const nc: NatsConnection = await connect({
      servers: cluster.url.split(","),
      maxReconnectAttempts: -1,
    });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    const info = await jsm.streams.info(stream);
    expect([info.config.num_replicas, info.cluster?.replicas?.length]).toEqual([3, 2]);

    await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const bobDevice = await openStream(nodeB.baseUrl, "bob");
    cleanups.push(async () => bobDevice.close());
    const sender = steadySender(clientAs(MessageService, nodeA.baseUrl, "alice"));
    const serverNamed = (name: string) => {
      const found = cluster.servers.find((s) => cluster.nameOf(s) === name);
      if (found === undefined) throw new Error(`no server named ${name}`);
      return found;
    };

    // 1. The stream leader dies, then comes back.
    await sender.untilAcked(30);
    const leader = serverNamed(await leaderOf(jsm, stream));
    const leaderKill = await killAndMeasure(leader, sender, bobDevice, jsm, stream, durable);
    await sender.untilAcked(sender.acked.size + 20);
    await leader.restart();
    await sender.untilAcked(sender.acked.size + 20);

    // 2. A server that does not lead the stream dies.
    const current = await leaderOf(jsm, stream);
    const consumerLeader = await leaderOf(jsm, stream, durable);
    // Leading neither the stream nor its consumer if there is one such server.
    const follower =
      cluster.servers.find(
        (s) => cluster.nameOf(s) !== current && cluster.nameOf(s) !== consumerLeader,
      ) ?? cluster.servers.find((s) => cluster.nameOf(s) !== current);
    if (follower === undefined) throw new Error("no follower");
    const followerKill = await killAndMeasure(follower, sender, bobDevice, jsm, stream, durable);
    await sender.untilAcked(sender.acked.size + 20);
    await follower.restart();
    await sender.untilAcked(sender.acked.size + 20);
    await sender.stop();

    const bob = clientAs(MessageService, nodeB.baseUrl, "bob");
    // Stored exactly once, each with the seq its sender was told.
    const stored = await syncFrom(bob);
    const copies = new Map<string, bigint[]>();
    for (const m of stored) {
      copies.set(m.clientMessageId, [...(copies.get(m.clientMessageId) ?? []), m.seq]);
    }
    for (const [id, { seq }] of sender.acked) expect(copies.get(id), id).toEqual([seq]);
    expect(stored.length).toBe(sender.acked.size);

    // Fanned out: the last acked message arrives live, and every gap bob's device sees
    // in the live seqs (events lost with a dying server) is filled by sync.
    const ackedSeqs = [...sender.acked.values()].map((a) => a.seq);
    const lastSeq = ackedSeqs.at(-1) ?? 0n;
    await bobDevice.waitFor((e) => e.event.case === "message" && e.event.value.seq === lastSeq);
    const live = new Set(bobDevice.messages().map((m) => m.seq));
    const seen = new Set(live);
    const gaps = ackedSeqs.filter((seq) => !live.has(seq));
    for (const seq of gaps) {
      if (seen.has(seq)) continue;
      for (const m of await syncFrom(bob, seq - 1n)) seen.add(m.seq);
    }
    expect(ackedSeqs.filter((seq) => !seen.has(seq))).toEqual([]);

    const longestOutage = Math.max(0, ...sender.outages.map((o) => o.to - o.from));
    const figures = {
      acked: sender.acked.size,
      liveGaps: gaps.length,
      sendOutages: sender.outages.length,
      longestSendOutageMs: longestOutage,
      leaderKill,
      followerKill,
    };
    console.log(`nats-cluster fault figures: ${JSON.stringify(figures)}`);
    expect(longestOutage).toBeLessThanOrEqual(SEND_OUTAGE_MAX_MS);
    // Live delivery needs no JetStream leader (the storing node delivers it), so a
    // dead stream leader costs no more than a dead follower: a client reconnect.
    expect(followerKill.liveResumeMs).toBeLessThanOrEqual(LIVE_RESUME_MAX_MS);
    expect(leaderKill.liveResumeMs).toBeLessThanOrEqual(LIVE_RESUME_MAX_MS);
  }, 240_000);
});
