import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Without APNs or FCM credentials nothing could be sent, so fan-out publishes no push
// jobs: a message costs no JetStream write beyond its own.
const namespace = uniqueName("nopush");
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("nopush"),
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: namespace,
  });
  await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
});
afterAll(async () => {
  await app?.close();
});

it("publishes no push job when no push provider is configured", async () => {
  await clientAs(MessageService, app.baseUrl, "alice").sendMessage({
    toUserId: "bob",
    body: [text("offline bob")],
  });
  // The message's fan-out ran (it records bob's conversation list); a job would be out by then.
  await eventually(async () => {
    const { conversations } = await clientAs(MessageService, app.baseUrl, "bob").listConversations(
      {},
    );
    expect(conversations).toHaveLength(1);
  });
  const nc = await connect({ servers: testNatsUrl() });
  try {
    const jsm = await jetstreamManager(nc);
    const streams = await jsm.streams.list().next();
    const push = streams.find((s) => s.config.name === `${namespace}-push`);
    const messages = streams.find((s) => s.config.name === `${namespace}-messages`);
    expect(messages?.state.messages).toBe(1);
    expect(push?.state.messages ?? 0).toBe(0);
  } finally {
    await nc.close();
  }
});
