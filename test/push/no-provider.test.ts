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
  const nc = await connect({ servers: testNatsUrl() });
  try {
    const jsm = await jetstreamManager(nc);
    // The fan-out consumer acked the message: its push job, if any, was published before.
    await eventually(async () => {
      const fanout = await jsm.consumers.info(`${namespace}-messages`, `${namespace}-fanout`);
      expect(fanout.ack_floor.stream_seq).toBe(1);
    });
    const push = await jsm.streams.info(`${namespace}-push`);
    expect(push.state.last_seq).toBe(0); // none ever published (a consumed job leaves the stream)
  } finally {
    await nc.close();
  }
});
