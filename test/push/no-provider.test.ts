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
// jobs; with no after-send webhook either, fan-out has nothing to do beyond the
// storing node's live delivery: a message costs no JetStream write at all.
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
    // The outbox cleared the message's mark: whatever it publishes was published before.
    await eventually(async () =>
      expect(await app.storage.messages.countUnpublished(Date.now() + 60_000)).toBe(0),
    );
    const messages = await jsm.streams.info(`${namespace}-messages`);
    expect(messages.state.last_seq).toBe(0); // no fan-out event: no work for it
    const push = await jsm.streams.info(`${namespace}-push`);
    expect(push.state.last_seq).toBe(0); // none ever published (a consumed job leaves the stream)
  } finally {
    await nc.close();
  }
});
