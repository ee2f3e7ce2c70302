import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { WebhookCommand } from "../../src/gen/im/v1/webhook_pb.js";
import { decodeWebhookRequest } from "../../src/webhooks/index.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

const custom = (data: string, desc: string) =>
  create(MessageElementSchema, { element: { case: "custom", value: { data, desc } } });

describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("kw"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("kw"),
    }),
  ],
])("keyword moderation on %s", (_name, env) => {
  let app: TestApp;
  let hook: TestServer;
  let dir: string;
  let file: string;
  let n = 0;
  const users = async (count: number) => {
    const ids = Array.from(
      { length: count },
      () => `kw${++n}_${Math.random().toString(36).slice(2, 8)}`,
    );
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: ids.map((userId) => ({ userId })),
    });
    return ids as [string, string, string];
  };
  /** Texts of the before-send webhook calls seen so far. */
  const beforeSendTexts = () =>
    hook.received
      .map((r) => decodeWebhookRequest(r.body))
      .flatMap((r) =>
        r.command === WebhookCommand.C2C_BEFORE_SEND && r.event.case === "c2cBeforeSend"
          ? r.event.value.body.map((e) => (e.element.case === "text" ? e.element.value.text : ""))
          : [],
      );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "keywords-"));
    file = join(dir, "keywords.txt");
    await writeFile(file, "# test list\nreplace darn\nreplace 坏人\nreject buy now\n");
    hook = await startTestServer((_req, res) => {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ action: "BEFORE_SEND_ACTION_ALLOW" }));
    });
    app = await startTestApp({
      ...env(),
      KEYWORDS_FILE: file,
      WEBHOOK_URL: hook.url,
      WEBHOOK_SECRET: "s3cret",
    });
  });
  afterAll(async () => {
    await app?.close();
    await hook?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("masks replace keywords in text and custom elements before the before-send webhook and delivery", async () => {
    const [a, b] = await users(2);
    const bDevice = await openStream(app.baseUrl, b, "b-phone");
    await clientAs(MessageService, app.baseUrl, a).sendMessage({
      toUserId: b,
      body: [text("well DARN, 他是坏人"), custom('{"say":"darn"}', "darn it")],
    });
    const [got] = await bDevice.waitForMessages(1);
    expect(got?.body.map((e) => e.element.value)).toEqual([
      expect.objectContaining({ text: "well ****, 他是**" }),
      expect.objectContaining({ data: '{"say":"****"}', desc: "**** it" }),
    ]);
    expect(beforeSendTexts()).toContain("well ****, 他是**");
    const history = await clientAs(MessageService, app.baseUrl, b).listMessages({ peerUserId: a });
    expect(history.messages[0]?.body[0]?.element.value).toMatchObject({
      text: "well ****, 他是**",
    });
    bDevice.close();
  });

  it("rejects a reject keyword with KEYWORD_REJECTED naming the field; nothing reaches the webhook or the store", async () => {
    const [a, b] = await users(2);
    const calls = beforeSendTexts().length;
    const f = await failureOf(
      clientAs(MessageService, app.baseUrl, a).sendMessage({
        toUserId: b,
        body: [text("hello"), custom("x", "BUY NOW!")],
      }),
    );
    expect(f).toMatchObject({
      code: Code.InvalidArgument,
      reason: ErrorReason.KEYWORD_REJECTED,
      field: "body[1].custom.desc",
    });
    expect(beforeSendTexts().length).toBe(calls);
    const history = await clientAs(MessageService, app.baseUrl, b).listMessages({ peerUserId: a });
    expect(history.messages).toEqual([]);
  });

  it("applies to group messages through the same pipeline", async () => {
    const [owner, member] = await users(2);
    const groups = (u: string) => clientAs(GroupService, app.baseUrl, u);
    const groupId = uniqueName("g").slice(0, 40);
    await groups(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      memberUserIds: [member],
    });
    const rejected = await failureOf(
      groups(member).sendGroupMessage({ groupId, body: [text("buy now")] }),
    );
    expect(rejected.reason).toBe(ErrorReason.KEYWORD_REJECTED);
    await groups(member).sendGroupMessage({ groupId, body: [text("darn")] });
    const { messages } = await groups(owner).syncGroupMessages({ groupId, afterSeq: 0n });
    expect(messages.map((m) => m.body[0]?.element.value)).toEqual([
      expect.objectContaining({ text: "****" }),
    ]);
  });

  it("holds an edit to the same rules as a send", async () => {
    const [a, b] = await users(2);
    const sent = await clientAs(MessageService, app.baseUrl, a).sendMessage({
      toUserId: b,
      body: [text("hello")],
    });
    const edit = (said: string) =>
      clientAs(MessageLifecycleService, app.baseUrl, a).editMessage({
        conversationType: ConversationType.C2C,
        conversationId: sent.conversationId,
        seq: sent.seq,
        body: [text(said)],
      });
    expect(await failureOf(edit("buy now"))).toMatchObject({
      code: Code.InvalidArgument,
      reason: ErrorReason.KEYWORD_REJECTED,
      field: "body[0].text.text",
    });
    await edit("darn");
    const history = await clientAs(MessageService, app.baseUrl, b).listMessages({ peerUserId: a });
    expect(history.messages[0]?.body[0]?.element.value).toMatchObject({ text: "****" });
  });

  it("exempts app administrators", async () => {
    const [, b] = await users(2);
    await clientAs(MessageService, app.baseUrl, ADMIN).sendMessage({
      toUserId: b,
      body: [text("darn, buy now")],
    });
    const history = await clientAs(MessageService, app.baseUrl, b).listMessages({
      peerUserId: ADMIN,
    });
    expect(history.messages[0]?.body[0]?.element.value).toMatchObject({ text: "darn, buy now" });
  });

  it("reloads the list when the file is replaced, and keeps the old one when the new file is bad", async () => {
    const [a, b] = await users(2);
    const send = (said: string) =>
      clientAs(MessageService, app.baseUrl, a).sendMessage({ toUserId: b, body: [text(said)] });
    const next = join(dir, "next.txt");
    await writeFile(next, "reject heck\n");
    await rename(next, file);
    await eventually(async () =>
      expect((await failureOf(send("oh heck"))).reason).toBe(ErrorReason.KEYWORD_REJECTED),
    );
    await send("darn, buy now"); // The old rules are gone.
    // A broken file is refused; the list in force stays.
    await writeFile(file, "reject heck\nblock oops\n");
    expect(await app.reloadKeywords()).toBe(false);
    expect((await failureOf(send("heck"))).reason).toBe(ErrorReason.KEYWORD_REJECTED);
    await writeFile(file, "replace darn\nreplace 坏人\nreject buy now\n");
    expect(await app.reloadKeywords()).toBe(true);
  });
});
