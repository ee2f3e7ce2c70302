import { afterAll, beforeAll, expect, it } from "vitest";
import { type GroupMessage, GroupMessageKind, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { type GroupStream, groupClients, openGroupStream } from "./support.js";

// Two nodes on one FerretDB and one nats-server: group messages sent through
// node A reach members streaming on node B, whichever node's worker fans out.

let nodeA: TestApp;
let nodeB: TestApp;
const streams: GroupStream[] = [];

beforeAll(async () => {
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("gmsgnodes"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("gmsgnodes"),
    GROUP_MESSAGE_RATE_MAX: "1000",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
});
afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

const soon = (check: () => unknown) => eventually(async () => check(), 8000);
const normal = (s: GroupStream, groupId: string): GroupMessage[] =>
  s.groupMessages().filter((m) => m.groupId === groupId && m.kind === GroupMessageKind.NORMAL);
const textOf = (m: GroupMessage) =>
  m.body[0]?.element.case === "text" ? m.body[0].element.value.text : "";

it("delivers messages sent on one node to members streaming on the other, with distinct seqs", async () => {
  const members = Array.from({ length: 7 }, (_, i) => `nm${i}`);
  const [owner, ...rest] = members as [string, ...string[]];
  const a = await groupClients(nodeA, members);
  const b = await groupClients(nodeB, []);
  const groupId = "two-nodes";
  await a.as(owner).createGroup({
    type: GroupType.COMMUNITY,
    name: "n",
    groupId,
    memberUserIds: rest,
  });
  const onB = await Promise.all(rest.map((u) => openGroupStream(nodeB, u)));
  streams.push(...onB);
  // Both nodes take sends for the group at once: seqs stay unique and gap-free.
  const sent = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? a : b).as(owner).sendGroupMessage({ groupId, body: [text(`m${i}`)] }),
    ),
  );
  expect(sent.map((r) => Number(r.seq)).sort((x, y) => x - y)).toEqual(
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
  for (const s of onB) await soon(() => expect(normal(s, groupId)).toHaveLength(10));
  const seen = normal(onB[0]!, groupId)
    .map((m) => Number(m.seq))
    .sort((x, y) => x - y);
  expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  const synced = await b.as(rest[0]!).syncGroupMessages({ groupId });
  expect(synced.messages.map(textOf).sort()).toEqual(
    Array.from({ length: 10 }, (_, i) => `m${i}`).sort(),
  );
});

it("follows an AVChatRoom joined through one node on a stream held by the other", async () => {
  const a = await groupClients(nodeA, ["roomowner", "viewer"]);
  const groupId = "two-nodes-room";
  await a.as("roomowner").createGroup({ type: GroupType.AV_CHAT_ROOM, name: "r", groupId });
  const viewerOnB = await openGroupStream(nodeB, "viewer");
  const ownerOnB = await openGroupStream(nodeB, "roomowner");
  streams.push(viewerOnB, ownerOnB);
  await a.as("viewer").applyJoinGroup({ groupId });
  await soon(async () => {
    await a.as("roomowner").sendGroupMessage({ groupId, body: [text("ping")] });
    expect(normal(viewerOnB, groupId).length).toBeGreaterThan(0);
  });
  await a.as("roomowner").sendGroupMessage({ groupId, body: [text("on air")] });
  await soon(() => expect(normal(viewerOnB, groupId).map(textOf)).toContain("on air"));
  // No wait after quitting: node A publishes the membership change before the
  // send's events, and one nats-server hands them to node B in that order.
  await a.as("viewer").quitGroup({ groupId });
  const before = normal(viewerOnB, groupId).length;
  await a.as("roomowner").sendGroupMessage({ groupId, body: [text("gone")] });
  // Once "gone" reached a stream on node B it was written to every stream there that
  // follows the room. A sentinel sent after that: the viewer's stream gets its events
  // in order, so had "gone" been written to it, it would be there before this.
  await soon(() => expect(normal(ownerOnB, groupId).map(textOf)).toContain("gone"));
  await clientAs(MessageService, nodeA.baseUrl, "roomowner").sendMessage({
    toUserId: "viewer",
    body: [text("sentinel")],
  });
  await viewerOnB.waitFor((e) => e.event.case === "message", 30_000);
  expect(normal(viewerOnB, groupId)).toHaveLength(before);
});
