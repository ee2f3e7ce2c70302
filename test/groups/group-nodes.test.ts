import { afterAll, beforeAll, expect, it } from "vitest";
import { GroupTipType, GroupType } from "../../src/gen/im/v1/group_pb.js";
import {
  GroupMemberExitType,
  GroupMemberJoinType,
  type WebhookRequest,
} from "../../src/gen/im/v1/webhook_pb.js";
import { decodeWebhookRequest } from "../../src/webhooks/index.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { groupClients, openGroupStream } from "./support.js";

// Two server processes' worth of app on one FerretDB and one nats-server: tips
// reach members streaming on the other node, and the app's endpoint hears the
// group life-cycle webhooks.
let nodeA: TestApp;
let nodeB: TestApp;
let hook: TestServer;

beforeAll(async () => {
  hook = await startTestServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("groupnodes"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("groupnodes"),
    WEBHOOK_URL: hook.url,
    WEBHOOK_SECRET: "s3cret",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
});
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
  await hook?.close();
});

const hooks = (): WebhookRequest[] => hook.received.map((r) => decodeWebhookRequest(r.body));

async function waitForHook(
  match: (r: WebhookRequest) => boolean,
  timeoutMs = 5000,
): Promise<WebhookRequest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = hooks().find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error("webhook not received");
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("delivers tips across nodes and reports create, join, exit and disband to the app", async () => {
  const a = await groupClients(nodeA, ["owner1", "joiner", "invitee"]);
  const bOwner = (await groupClients(nodeB, [])).as("owner1");
  const joinerOnB = await openGroupStream(nodeB, "joiner");
  const ownerOnA = await openGroupStream(nodeA, "owner1");
  try {
    const groupId = uniqueName("g");
    await a
      .as("owner1")
      .createGroup({ type: GroupType.COMMUNITY, name: "c", groupId, memberUserIds: ["invitee"] });
    const created = await waitForHook((r) => r.event.case === "groupAfterCreate");
    expect(created.event.value).toMatchObject({
      groupId,
      ownerAccount: "owner1",
      memberAccounts: ["invitee"],
    });

    await a.as("joiner").applyJoinGroup({ groupId });
    await joinerOnB.waitForTip(groupId, GroupTipType.MEMBERS_JOINED);
    await ownerOnA.waitForTip(groupId, GroupTipType.MEMBERS_JOINED);
    const joined = await waitForHook((r) => r.event.case === "groupAfterMemberJoin");
    expect(joined.event.value).toMatchObject({
      groupId,
      joinType: GroupMemberJoinType.APPLY,
      operatorAccount: "joiner",
      memberAccounts: ["joiner"],
    });

    // Operations on node B reach streams on node A and B alike.
    await bOwner.removeGroupMembers({ groupId, userIds: ["joiner"] });
    await joinerOnB.waitForTip(groupId, GroupTipType.MEMBERS_KICKED);
    await ownerOnA.waitForTip(groupId, GroupTipType.MEMBERS_KICKED);
    const exited = await waitForHook((r) => r.event.case === "groupAfterMemberExit");
    expect(exited.event.value).toMatchObject({
      exitType: GroupMemberExitType.KICKED,
      operatorAccount: "owner1",
      memberAccounts: ["joiner"],
    });

    await bOwner.disbandGroup({ groupId });
    await ownerOnA.waitForTip(groupId, GroupTipType.DISBANDED);
    const disbanded = await waitForHook((r) => r.event.case === "groupAfterDisband");
    expect(disbanded.event.value).toMatchObject({
      groupId,
      ownerAccount: "owner1",
      operatorAccount: "owner1",
    });
    // Signed like every webhook.
    expect(hook.received[0]?.headers["x-im-signature"]).toMatch(/^[0-9a-f]{64}$/);
  } finally {
    joinerOnB.close();
    ownerOnA.close();
  }
});
