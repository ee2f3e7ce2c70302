import { afterAll, beforeAll, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupType } from "../../src/gen/im/v1/group_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { groupClients } from "./support.js";

// Two nodes (FerretDB + nats-server) whose group send caches would serve their
// answers for an hour: only the invalidation over the bus can make node B see
// a mute, a removal or mute-all made through node A. Each test warms node B's
// caches with a send that passes first.
let nodeA: TestApp;
let nodeB: TestApp;
beforeAll(async () => {
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("glookups"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("glookups"),
    LOOKUP_CACHE_TTL_MS: "3600000",
    GROUP_MESSAGE_RATE_MAX: "1000",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
});
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

let next = 0;
/** A Public group made on node A by its owner, with one member; clients on both nodes. */
async function group() {
  const n = ++next;
  const [owner, member] = [`go${n}`, `gm${n}`];
  const a = await groupClients(nodeA, [owner, member]);
  const b = await groupClients(nodeB, []);
  const groupId = `cached-${n}`;
  await a.as(owner).createGroup({
    type: GroupType.PUBLIC,
    name: "g",
    groupId,
    memberUserIds: [member],
  });
  const sendOnB = () => b.as(member).sendGroupMessage({ groupId, body: [text("hi")] });
  expect((await sendOnB()).seq).toBeGreaterThan(0n);
  return { a, b, owner, member, groupId, sendOnB };
}

it("refuses on node B a member muted on node A", async () => {
  const { a, owner, member, groupId, sendOnB } = await group();
  await a.as(owner).muteGroupMembers({ groupId, userIds: [member], muteSeconds: 600 });
  await eventually(async () => {
    expect((await failureOf(sendOnB())).reason).toBe(ErrorReason.MEMBER_MUTED);
  });
  await a.as(owner).muteGroupMembers({ groupId, userIds: [member], muteSeconds: 0 });
  await eventually(async () => expect((await sendOnB()).seq).toBeGreaterThan(0n));
});

it("refuses on node B a member removed on node A", async () => {
  const { a, owner, member, groupId, sendOnB } = await group();
  await a.as(owner).removeGroupMembers({ groupId, userIds: [member] });
  await eventually(async () => {
    expect((await failureOf(sendOnB())).reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
  });
});

it("refuses on node B a member's send once the group is muted for all on node A", async () => {
  const { a, owner, groupId, sendOnB } = await group();
  await a.as(owner).modifyGroup({ groupId, muteAll: true });
  await eventually(async () => {
    expect((await failureOf(sendOnB())).reason).toBe(ErrorReason.GROUP_MUTED_ALL);
  });
});

it("refuses on node B online-only sends to a group disbanded on node A", async () => {
  // Online-only: no seq is taken, so nothing but the group lookup can refuse it.
  const { a, b, owner, member, groupId } = await group();
  const liveOnB = () =>
    b.as(member).sendGroupMessage({ groupId, body: [text("hi")], options: { onlineOnly: true } });
  await liveOnB();
  await a.as(owner).disbandGroup({ groupId });
  await eventually(async () => {
    expect((await failureOf(liveOnB())).reason).toBe(ErrorReason.GROUP_NOT_FOUND);
  });
});
