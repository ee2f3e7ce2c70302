import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import type { SendMessageRequestSchema } from "../../src/gen/im/v1/message_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf, sigFor, transportFor } from "../support/clients.js";
import { everyElement, text } from "../support/elements.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

type SendInit = MessageInitShape<typeof SendMessageRequestSchema>;
const el = (element: MessageInitShape<typeof MessageElementSchema>["element"]) =>
  create(MessageElementSchema, { element });

describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("c2c"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("c2c"),
    }),
  ],
])("one-to-one messaging on %s", (_name, env) => {
  let app: TestApp;
  let n = 0;
  /** Fresh users per test so cases stay independent on one server. */
  const users = async (count: number) => {
    const ids = Array.from(
      { length: count },
      () => `u${++n}_${Math.random().toString(36).slice(2, 8)}`,
    );
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: ids.map((userId) => ({ userId })),
    });
    return ids;
  };
  const messages = (user: string) => clientAs(MessageService, app.baseUrl, user);
  const send = (from: string, req: SendInit) => messages(from).sendMessage(req);

  beforeAll(async () => {
    app = await startTestApp({ ...env(), STREAM_KEEPALIVE_MS: "300" });
  });
  afterAll(() => app.close());

  it("sends, sequences per conversation and delivers live to the recipient and the sender's other devices", async () => {
    const [a, b] = await users(2);
    const bDevice = await openStream(app.baseUrl, b!, "b-phone");
    const aOtherDevice = await openStream(app.baseUrl, a!, "a-laptop", "grpc");
    const r1 = await send(a!, { toUserId: b!, body: [text("one")] });
    const r2 = await send(b!, { toUserId: a!, body: [text("two")] });
    const r3 = await send(a!, { toUserId: b!, body: [text("three")] });
    expect([r1.seq, r2.seq, r3.seq]).toEqual([1n, 2n, 3n]);
    expect(r1.conversationId).toBe(r2.conversationId);
    expect(r1.messageKey).toBe(`${r1.conversationId}:1`);
    expect(Number(r1.timeMs)).toBeGreaterThan(Date.now() - 10_000);

    // Clients order by seq; live order is best effort across processes.
    const got = (await bDevice.waitForMessages(3)).sort((x, y) => Number(x.seq - y.seq));
    expect(got.map((m) => [m.conversationId, Number(m.seq), m.body[0]?.element.value])).toEqual(
      [1, 2, 3].map((s, i) => [
        r1.conversationId,
        s,
        expect.objectContaining({ text: ["one", "two", "three"][i] }),
      ]),
    );
    // The sender's other device sees its own sends (and what it received).
    expect((await aOtherDevice.waitForMessages(3)).map((m) => Number(m.seq)).sort()).toEqual([
      1, 2, 3,
    ]);
    bDevice.close();
    aOtherDevice.close();
  });

  it("carries every element type, custom data and push info unchanged", async () => {
    const [a, b] = await users(2);
    const body = everyElement();
    const res = await send(a!, {
      toUserId: b!,
      body,
      cloudCustomData: "ccd",
      offlinePushInfo: { title: "t", desc: "d", ext: "e" },
    });
    const synced = await messages(b!).syncMessages({ peerUserId: a! });
    expect(synced.messages).toHaveLength(1);
    const m = synced.messages[0]!;
    expect(m.body).toEqual(body);
    expect([m.seq, m.cloudCustomData, m.offlinePushInfo?.title, m.fromUserId]).toEqual([
      res.seq,
      "ccd",
      "t",
      a,
    ]);
  });

  it.each<[string, (to: string) => SendInit, ErrorReason, string, Code?]>([
    ["an empty body", (to) => ({ toUserId: to, body: [] }), ErrorReason.MESSAGE_BODY_EMPTY, "body"],
    [
      "an element without a type",
      (to) => ({ toUserId: to, body: [{}] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0]",
    ],
    [
      "empty text",
      (to) => ({ toUserId: to, body: [text("")] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].text.text",
    ],
    [
      "two custom elements",
      (to) => ({
        toUserId: to,
        body: [el({ case: "custom", value: {} }), el({ case: "custom", value: {} })],
      }),
      ErrorReason.TOO_MANY_CUSTOM_ELEMENTS,
      "body[1]",
    ],
    [
      "a 13 KB text",
      (to) => ({ toUserId: to, body: [text("x".repeat(13 * 1024))] }),
      ErrorReason.MESSAGE_TOO_LARGE,
      "body",
    ],
    [
      "12 KB of custom data",
      (to) => ({ toUserId: to, body: [text("x")], cloudCustomData: "y".repeat(12 * 1024) }),
      ErrorReason.MESSAGE_TOO_LARGE,
      "body",
    ],
    [
      "a latitude of 91",
      (to) => ({ toUserId: to, body: [el({ case: "location", value: { latitude: 91 } })] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].location.latitude",
    ],
    [
      "a sound without url",
      (to) => ({ toUserId: to, body: [el({ case: "sound", value: { uuid: "u" } })] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].sound.url",
    ],
    [
      "an image without renditions",
      (to) => ({ toUserId: to, body: [el({ case: "image", value: { uuid: "u" } })] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].image.image_infos",
    ],
    [
      "a file with download flag 1",
      (to) => ({
        toUserId: to,
        body: [el({ case: "file", value: { url: "u", uuid: "u", downloadFlag: 1 } })],
      }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].file.download_flag",
    ],
    [
      "a video without thumbnail",
      (to) => ({
        toUserId: to,
        body: [el({ case: "video", value: { videoUrl: "u", videoUuid: "u" } })],
      }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].video.thumb_url",
    ],
    [
      "a relay without title",
      (to) => ({ toUserId: to, body: [el({ case: "relay", value: { jsonMsgKey: "k" } })] }),
      ErrorReason.INVALID_ELEMENT,
      "body[0].relay.title",
    ],
    [
      "an invalid recipient id",
      () => ({ toUserId: "bad id", body: [text("x")] }),
      ErrorReason.INVALID_USER_ID,
      "to_user_id",
    ],
    [
      "a client message id over 64 bytes",
      (to) => ({ toUserId: to, body: [text("x")], clientMessageId: "c".repeat(65) }),
      ErrorReason.INVALID_FIELD,
      "client_message_id",
    ],
    [
      "a missing recipient",
      () => ({ toUserId: "nobody_here", body: [text("x")] }),
      ErrorReason.RECIPIENT_NOT_FOUND,
      "to_user_id",
      Code.NotFound,
    ],
    [
      "a non-admin sending as someone else",
      (to) => ({ toUserId: to, body: [text("x")], fromUserId: "someone" }),
      ErrorReason.ADMIN_OPTION,
      "from_user_id",
      Code.PermissionDenied,
    ],
    [
      "a non-admin skipping the webhook",
      (to) => ({ toUserId: to, body: [text("x")], options: { skipBeforeSendWebhook: true } }),
      ErrorReason.ADMIN_OPTION,
      "options.skip_before_send_webhook",
      Code.PermissionDenied,
    ],
  ])(
    "rejects %s with a stable reason and stores nothing",
    async (_case, req, reason, field, code = Code.InvalidArgument) => {
      const [a, b] = await users(2);
      const f = await failureOf(send(a!, req(b!)));
      expect([f.code, ErrorReason[f.reason], f.field]).toEqual([code, ErrorReason[reason], field]);
      const synced = await messages(a!).syncMessages({ peerUserId: b! });
      expect([synced.messages.length, synced.lastSeq]).toEqual([0, 0n]);
    },
  );

  it("rejects messages to oneself", async () => {
    const [a] = await users(1);
    const f = await failureOf(send(a!, { toUserId: a!, body: [text("me")] }));
    expect([f.code, f.reason]).toEqual([Code.InvalidArgument, ErrorReason.SELF_MESSAGE]);
  });

  it("treats a retry with the same client message id or random as the same message", async () => {
    const [a, b] = await users(2);
    const first = await send(a!, { toUserId: b!, body: [text("x")], clientMessageId: "cm-1" });
    const again = await send(a!, { toUserId: b!, body: [text("x")], clientMessageId: "cm-1" });
    expect([again.seq, again.messageKey, again.timeMs, again.duplicate]).toEqual([
      first.seq,
      first.messageKey,
      first.timeMs,
      true,
    ]);
    const byRandom = await send(a!, { toUserId: b!, body: [text("y")], random: 42 });
    expect((await send(a!, { toUserId: b!, body: [text("y")], random: 42 })).seq).toBe(
      byRandom.seq,
    );
    expect((await send(a!, { toUserId: b!, body: [text("y")], random: 43 })).seq).toBe(
      byRandom.seq + 1n,
    );
    // Concurrent retries still store one message.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () =>
        send(a!, { toUserId: b!, body: [text("z")], clientMessageId: "cm-burst" }),
      ),
    );
    expect(new Set(burst.map((r) => r.seq)).size).toBe(1);
    const all = await messages(a!).syncMessages({ peerUserId: b! });
    expect(all.messages.map((m) => Number(m.seq))).toEqual([1, 2, 3, 4]);
  });

  it("delivers online-only messages to live streams only", async () => {
    const [a, b] = await users(2);
    const bDevice = await openStream(app.baseUrl, b!);
    const res = await send(a!, {
      toUserId: b!,
      body: [text("typing")],
      options: { onlineOnly: true },
    });
    expect([res.seq, res.messageKey]).toEqual([0n, ""]);
    const [live] = await bDevice.waitForMessages(1);
    expect([live?.onlineOnly, live?.seq]).toEqual([true, 0n]);
    expect((await messages(b!).syncMessages({ peerUserId: a! })).messages).toHaveLength(0);
    bDevice.close();
  });

  it("lets an admin send as a user or as the system, optionally not syncing to the sender", async () => {
    const [a, b] = await users(2);
    const aDevice = await openStream(app.baseUrl, a!);
    const admin = messages(ADMIN);
    const asUser = await admin.sendMessage({ toUserId: b!, fromUserId: a!, body: [text("as a")] });
    await admin.sendMessage({
      toUserId: b!,
      fromUserId: a!,
      body: [text("quiet")],
      options: { skipSyncToSender: true, skipBeforeSendWebhook: true, skipAfterSendWebhook: true },
    });
    const system = await admin.sendMessage({ toUserId: b!, body: [text("system notice")] });
    expect(system.conversationId).toBe([ADMIN, b].sort().reduce((id, u) => `${id}:${u}`, "c2c"));
    const synced = await messages(b!).syncMessages({ peerUserId: a! });
    expect(synced.messages.map((m) => m.fromUserId)).toEqual([a, a]);
    await aDevice.waitForMessages(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(aDevice.messages().map((m) => Number(m.seq))).toEqual([Number(asUser.seq)]);
    const f = await failureOf(
      admin.sendMessage({ toUserId: b!, fromUserId: "ghost_user", body: [text("x")] }),
    );
    expect([f.code, f.reason]).toEqual([Code.NotFound, ErrorReason.SENDER_NOT_FOUND]);
    aDevice.close();
  });

  it("keeps conversation lists, unread counts and read state, telling every device", async () => {
    const [a, b, c] = await users(3);
    const bPhone = await openStream(app.baseUrl, b!, "phone");
    const bLaptop = await openStream(app.baseUrl, b!, "laptop");
    await send(a!, { toUserId: b!, body: [text("a1")] });
    await send(a!, { toUserId: b!, body: [text("a2")] });
    await send(a!, {
      toUserId: b!,
      body: [text("silent")],
      options: { noUnread: true, noLastMessage: true },
    });
    await send(c!, { toUserId: b!, body: [text("c1")] });
    await bPhone.waitForMessages(4);

    // The lists are read from the stored messages: they show a send once it is acked.
    const list = await messages(b!).listConversations({});
    expect(
      list.conversations.map((x) => [
        x.peerUserId,
        Number(x.lastSeq),
        x.unreadCount,
        x.lastMessage?.body[0]?.element.value,
      ]),
    ).toEqual([
      [c, 1, 1, expect.objectContaining({ text: "c1" })],
      [a, 3, 2, expect.objectContaining({ text: "a2" })],
    ]);
    const aList = await messages(a!).listConversations({});
    expect(
      aList.conversations.map((x) => [x.peerUserId, Number(x.lastSeq), x.unreadCount]),
    ).toEqual([[b, 3, 0]]);

    const read = await messages(b!).markRead({ peerUserId: a!, readSeq: 1n });
    expect([read.readSeq, read.unreadCount]).toEqual([1n, 1]);
    const receipt = await bLaptop.waitFor((e) => e.event.case === "read");
    expect(receipt.event.value).toMatchObject({ peerUserId: a, readSeq: 1n, unreadCount: 1 });
    await bPhone.waitFor((e) => e.event.case === "read");
    // Never goes backwards; 0 means "everything".
    const all = await messages(b!).markRead({ peerUserId: a!, readSeq: 0n });
    expect([all.readSeq, all.unreadCount]).toEqual([3n, 0]);
    expect((await messages(b!).markRead({ peerUserId: a!, readSeq: 2n })).readSeq).toBe(3n);
    expect((await messages(b!).markRead({ peerUserId: a!, readSeq: 0n })).readSeq).toBe(3n);
    const after = await messages(b!).listConversations({});
    expect(after.conversations.find((x) => x.peerUserId === a)?.unreadCount).toBe(0);

    const page1 = await messages(b!).listConversations({ page: { pageSize: 1 } });
    expect(page1.conversations).toHaveLength(1);
    const page2 = await messages(b!).listConversations({
      page: { pageSize: 1, cursor: page1.page?.nextCursor },
    });
    expect(page2.conversations[0]?.peerUserId).toBe(a);
    // Reads that raised nothing told no device: by the time a later message
    // arrives (published after them, in order), only the two rises did.
    await send(a!, { toUserId: b!, body: [text("a4")] });
    await bLaptop.waitForMessages(5);
    const reads = bLaptop.events.flatMap((e) =>
      e.event.case === "read" ? [Number(e.event.value.readSeq)] : [],
    );
    expect(reads).toEqual([1, 3]);
    bPhone.close();
    bLaptop.close();
  });

  it("syncs by seq range and pages history newest first", async () => {
    const [a, b] = await users(2);
    for (let i = 1; i <= 7; i++) await send(a!, { toUserId: b!, body: [text(`m${i}`)] });
    const range = await messages(b!).syncMessages({ peerUserId: a!, afterSeq: 2n, upToSeq: 5n });
    expect(range.messages.map((m) => Number(m.seq))).toEqual([3, 4, 5]);
    expect([range.coveredUpToSeq, range.hasMore, range.lastSeq]).toEqual([5n, false, 7n]);
    const limited = await messages(b!).syncMessages({ peerUserId: a!, afterSeq: 0n, limit: 4 });
    expect(limited.messages.map((m) => Number(m.seq))).toEqual([1, 2, 3, 4]);
    expect([limited.coveredUpToSeq, limited.hasMore]).toEqual([4n, true]);

    const p1 = await messages(b!).listMessages({ peerUserId: a!, page: { pageSize: 3 } });
    expect(p1.messages.map((m) => Number(m.seq))).toEqual([7, 6, 5]);
    const p2 = await messages(b!).listMessages({
      peerUserId: a!,
      page: { pageSize: 3, cursor: p1.page?.nextCursor },
    });
    expect(p2.messages.map((m) => Number(m.seq))).toEqual([4, 3, 2]);
    const before = await messages(b!).listMessages({ peerUserId: a!, beforeSeq: 3n });
    expect(before.messages.map((m) => Number(m.seq))).toEqual([2, 1]);
    const future = await messages(b!).listMessages({
      peerUserId: a!,
      minTimeMs: BigInt(Date.now() + 60_000),
    });
    expect(future.messages).toHaveLength(0);
    const f = await failureOf(
      messages(b!).listMessages({ peerUserId: a!, page: { cursor: "garbage" } }),
    );
    expect([f.code, f.reason]).toEqual([Code.InvalidArgument, ErrorReason.INVALID_CURSOR]);
  });

  it("keeps idle streams alive and validates the device id", async () => {
    const [a] = await users(1);
    const s = await openStream(app.baseUrl, a!);
    await s.waitFor((e) => e.event.case === "keepAlive", 3000);
    s.close();
    const bad = await openStream(app.baseUrl, a!, "bad device!").catch((e: unknown) => e);
    expect(String(bad)).toMatch(/device_id/);
  });
});

describe("retention and shutdown", () => {
  it("hides messages older than the retention period", async () => {
    let now = Date.now();
    const app = await startTestApp({ MESSAGE_RETENTION_DAYS: "1" }, { clock: () => now });
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "ra" }, { userId: "rb" }],
    });
    // A sig that outlives the simulated day.
    const m = createClient(
      MessageService,
      transportFor("connect-h2", app.baseUrl, sigFor("ra", { expireSec: 30 * 86400 })),
    );
    await m.sendMessage({ toUserId: "rb", body: [text("old")] });
    now += 23 * 3600 * 1000;
    await m.sendMessage({ toUserId: "rb", body: [text("new")] });
    expect((await m.syncMessages({ peerUserId: "rb" })).messages).toHaveLength(2);
    now += 2 * 3600 * 1000;
    expect((await m.syncMessages({ peerUserId: "rb" })).messages.map((x) => Number(x.seq))).toEqual(
      [2],
    );
    expect((await m.listMessages({ peerUserId: "rb" })).messages.map((x) => Number(x.seq))).toEqual(
      [2],
    );
    await app.close();
  });

  it("ends live streams cleanly on shutdown", async () => {
    const app = await startTestApp();
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "sa" }],
    });
    const s = await openStream(app.baseUrl, "sa");
    await app.close();
    expect(await s.ended).toBeUndefined();
  });
});
