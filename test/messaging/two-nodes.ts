import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { GroupMessageKind, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { groupClients, openGroupStream } from "../groups/support.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Two nodes on FerretDB + nats-server in their own namespace, sends through A and
 * devices on B, with users alice and bob, a JetStream manager for the messages
 * stream, and a quick outbox (its store pass republishes after 200 ms).
 */
export interface TwoNodes {
  ns: string;
  /** The messages stream's name. */
  stream: string;
  nodeA: TestApp;
  nodeB: TestApp;
  jsm: JetStreamManager;
  /** Closed with the nodes. */
  devices: { close(): void }[];
  /** The messages stream's last seq now. */
  streamLastSeq(): Promise<number>;
  /** Bob's device streaming from node B, and alice's messages to him sent through node A. */
  bobOnB(): Promise<{
    bob: OpenStream;
    /** Sends `body` as alice to bob; its seq. */
    send(body: string): Promise<number>;
    /** Sends `count` messages one after another; their seqs. */
    sendSeveral(count: number): Promise<number[]>;
  }>;
  /** A community group of gowner and gmember, gmember's device streaming from node B. */
  groupWithMemberOnB(groupId: string): Promise<{
    /** Sends `body` as gowner through node A and waits until gmember's device has it live. */
    sendAndSee(body: string): Promise<void>;
  }>;
  close(): Promise<void>;
}

export async function startTwoNodes(
  prefix: string,
  env: Readonly<Record<string, string>> = {},
): Promise<TwoNodes> {
  const ns = uniqueName(prefix);
  const stream = `${ns}-messages`;
  const settings = {
    ...env,
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: ns,
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: ns,
    OUTBOX_INTERVAL_MS: "100",
    OUTBOX_STALE_MS: "200",
  };
  const [nodeA, nodeB] = await Promise.all([startTestApp(settings), startTestApp(settings)]);
  const nc = await connect({ servers: testNatsUrl() });
  const jsm = await jetstreamManager(nc);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
  const devices: { close(): void }[] = [];
  return {
    ns,
    stream,
    nodeA,
    nodeB,
    jsm,
    devices,
    streamLastSeq: async () => (await jsm.streams.info(stream)).state.last_seq,
    async bobOnB() {
      const bob = await openStream(nodeB.baseUrl, "bob");
      devices.push(bob);
      const alice = clientAs(MessageService, nodeA.baseUrl, "alice");
      const send = async (body: string) =>
        Number((await alice.sendMessage({ toUserId: "bob", body: [text(body)] })).seq);
      return {
        bob,
        send,
        async sendSeveral(count) {
          const seqs: number[] = [];
          for (let i = 0; i < count; i++) seqs.push(await send(`m${i}`));
          return seqs;
        },
      };
    },
    async groupWithMemberOnB(groupId) {
      const groups = await groupClients(nodeA, ["gowner", "gmember"]);
      const owner = groups.as("gowner");
      await owner.createGroup({
        type: GroupType.COMMUNITY,
        name: "g",
        groupId,
        memberUserIds: ["gmember"],
      });
      const member = await openGroupStream(nodeB, "gmember");
      devices.push(member);
      return {
        async sendAndSee(body) {
          const sent = await owner.sendGroupMessage({ groupId, body: [text(body)] });
          await member.waitFor(
            (e) =>
              e.event.case === "groupMessage" &&
              e.event.value.kind === GroupMessageKind.NORMAL &&
              e.event.value.seq === sent.seq,
            30_000,
          );
        },
      };
    },
    async close() {
      for (const d of devices) d.close();
      await nc.close();
      await Promise.all([nodeA.close(), nodeB.close()]);
    },
  };
}
