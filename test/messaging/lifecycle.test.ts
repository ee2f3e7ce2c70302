import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import type { SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { GroupRole, GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { WebhookCommand, type WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import { decodeWebhookRequest } from "../../src/webhooks/encoding.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { startNatsServer, testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import { nodePairKit } from "./node-pair-kit.js";

const WINDOW_MS = 120_000;

/** The `recalled` event of (conversation, seq) on a stream, once it arrives. */
const recalledOn = (s: OpenStream, conversationId: string, seq: bigint) =>
  s.waitFor(
    (e) =>
      e.event.case === "recalled" &&
      e.event.value.conversationId === conversationId &&
      e.event.value.seq === seq,
    15_000,
  );
const recalledEvents = (s: OpenStream) =>
  s.events.flatMap((e: SubscribeResponse) => (e.event.case === "recalled" ? [e.event.value] : []));

/**
 * Recall and edit end to end through real streams, on the embedded default (one node)
 * and on FerretDB + nats-server with two nodes: the recall is taken on one
 * node, devices listen on the other.
 */
describe.each([
  ["memory + in-process bus", () => ({}), 1],
  [
    "FerretDB + nats-server, two nodes",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("recall"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("recall"),
    }),
    2,
  ],
] as const)("recall on %s", (_name, env, nodes) => {
  let a: TestApp;
  let b: TestApp;
  let hook: TestServer;
  /** Added to the servers' clock: moves them past the recall window without waiting. */
  let skewMs = 0;
  const kit = nodePairKit("r");
  const { users, stream, uniqueId } = kit;
  const lifecycle = (userId: string, app = a) =>
    clientAs(MessageLifecycleService, app.baseUrl, userId);
  const messages = (userId: string, app = b) => clientAs(MessageService, app.baseUrl, userId);
  const groups = (userId: string, app = a) => clientAs(GroupService, app.baseUrl, userId);
  const recallC2c = (userId: string, conversationId: string, seq: bigint) =>
    lifecycle(userId).recallMessage({
      conversationType: ConversationType.C2C,
      conversationId,
      seq,
    });
  const recallGroup = (userId: string, groupId: string, seq: bigint) =>
    lifecycle(userId).recallMessage({
      conversationType: ConversationType.GROUP,
      conversationId: groupId,
      seq,
    });
  const editC2c = (userId: string, conversationId: string, seq: bigint, said: string) =>
    lifecycle(userId).editMessage({
      conversationType: ConversationType.C2C,
      conversationId,
      seq,
      body: [text(said)],
    });
  const editGroup = (userId: string, groupId: string, seq: bigint, said: string) =>
    lifecycle(userId).editMessage({
      conversationType: ConversationType.GROUP,
      conversationId: groupId,
      seq,
      body: [text(said)],
    });
  const editedOn = (s: OpenStream, seq: bigint, version: number) =>
    s.waitFor((e) => {
      if (e.event.case !== "edited") return false;
      const m = e.event.value.message.value;
      return m?.seq === seq && m.edit?.version === version;
    }, 15_000);
  const textOf = (m: { body: { element: { case?: string; value?: unknown } }[] } | undefined) => {
    const e = m?.body[0]?.element;
    return e?.case === "text" ? (e.value as { text: string }).text : "";
  };
  const hooks = (command: WebhookCommand): WebhookRequest[] =>
    hook.received.map((r) => decodeWebhookRequest(r.body)).filter((r) => r.command === command);

  beforeAll(async () => {
    // Edits are steered by their text; everything else is allowed.
    hook = await startTestServer((req, res) => {
      const event = decodeWebhookRequest(req.body).event;
      let reply: object = { action: "BEFORE_SEND_ACTION_ALLOW" };
      if (event.case === "c2cBeforeEdit" || event.case === "groupBeforeEdit") {
        const first = event.value.body[0]?.element;
        const said = first?.case === "text" ? first.value.text : "";
        if (said === "deny edit")
          reply = { action: "BEFORE_SEND_ACTION_DENY", appCode: 77, appText: "no edits" };
        if (said === "drop edit") reply = { action: "BEFORE_SEND_ACTION_DROP" };
        if (said === "modify edit")
          reply = { action: "BEFORE_SEND_ACTION_MODIFY", body: [{ text: { text: "modified" } }] };
        if (said === "modify to image")
          reply = {
            action: "BEFORE_SEND_ACTION_MODIFY",
            body: [{ face: { index: 1, data: "" } }],
          };
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
    const settings = { ...env(), WEBHOOK_URL: hook.url, WEBHOOK_SECRET: "s3cret" };
    ({ a, b } = await kit.start(settings, nodes, () => Date.now() + skewMs));
  });
  afterEach(() => {
    skewMs = 0;
  });
  afterAll(async () => {
    await kit.close();
    await hook?.close();
  });

  it("one-to-one: the sender recalls; history, sync, the list and unread follow; both users' devices are told; repeats change nothing", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    const aliceOtherDevice = await stream(alice);
    const first = await messages(alice, a).sendMessage({ toUserId: bob, body: [text("oops")] });
    await messages(alice, a).sendMessage({ toUserId: bob, body: [text("kept")] });
    await bobDevice.waitForMessages(2);
    const last = await messages(alice, a).sendMessage({
      toUserId: bob,
      body: [text("last one")],
      cloudCustomData: "secret",
    });
    await bobDevice.waitForMessages(3);
    const conv = last.conversationId;
    await eventually(async () => {
      const [c] = (await messages(bob).listConversations({})).conversations;
      expect([c?.lastMessage?.seq, c?.unreadCount]).toEqual([last.seq, 3]);
    });

    const recalled = await recallC2c(alice, conv, last.seq);
    expect(recalled.alreadyRecalled).toBe(false);
    expect(recalled.recall?.recalledByUserId).toBe(alice);
    await recallC2c(alice, conv, first.seq);
    for (const s of [bobDevice, aliceOtherDevice]) {
      const e = await recalledOn(s, conv, last.seq);
      expect(e.event.value).toMatchObject({
        conversationType: ConversationType.C2C,
        messageKey: last.messageKey,
        fromUserId: alice,
        recall: { recalledByUserId: alice },
      });
      await recalledOn(s, conv, first.seq);
    }

    // Sync and history hold tombstones in the messages' places, content gone.
    const synced = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect(synced.map((m) => [m.seq, m.recall?.recalledByUserId ?? "", m.body.length])).toEqual([
      [first.seq, alice, 0],
      [first.seq + 1n, "", 1],
      [last.seq, alice, 0],
    ]);
    expect(synced[2]?.cloudCustomData).toBe("");
    const history = (await messages(alice).listMessages({ peerUserId: bob })).messages;
    expect(history.map((m) => m.recall !== undefined)).toEqual([true, false, true]);
    // The list's last message follows for both users; recalled messages no longer count as unread.
    await eventually(async () => {
      for (const [owner, unread] of [
        [bob, 1],
        [alice, 0],
      ] as const) {
        const [c] = (await messages(owner).listConversations({})).conversations;
        expect([c?.lastMessage?.seq, c?.lastMessage?.recall?.recalledByUserId]).toEqual([
          last.seq,
          alice,
        ]);
        expect(c?.lastMessage?.body).toEqual([]);
        expect(c?.unreadCount).toBe(unread);
      }
    });

    // Idempotent: the first recall is returned, nothing is told again.
    const again = await recallC2c(alice, conv, last.seq);
    expect([again.alreadyRecalled, again.recall]).toEqual([true, recalled.recall]);
    await eventually(async () => {
      const fired = hooks(WebhookCommand.C2C_AFTER_RECALL).filter(
        (r) => r.event.case === "c2cAfterRecall" && r.event.value.msgKey === last.messageKey,
      );
      expect(fired).toHaveLength(1);
      expect(fired[0]?.event.value).toMatchObject({
        fromAccount: alice,
        toAccount: bob,
        seq: last.seq,
        recalledByAccount: alice,
      });
    });
    expect(recalledEvents(bobDevice).filter((e) => e.seq === last.seq)).toHaveLength(1);
  });

  it("one-to-one: past the window only an app admin recalls; the peer never; outsiders see no message", async () => {
    const [alice, bob, carol] = await users(3);
    const sent = await messages(alice, a).sendMessage({ toUserId: bob, body: [text("hi")] });
    const conv = sent.conversationId;
    const byPeer = await failureOf(recallC2c(bob, conv, sent.seq));
    expect([byPeer.code, byPeer.reason]).toEqual([
      Code.PermissionDenied,
      ErrorReason.RECALL_NOT_ALLOWED,
    ]);
    const byOutsider = await failureOf(recallC2c(carol, conv, sent.seq));
    expect([byOutsider.code, byOutsider.reason]).toEqual([
      Code.NotFound,
      ErrorReason.MESSAGE_NOT_FOUND,
    ]);
    const noSuchSeq = await failureOf(recallC2c(alice, conv, sent.seq + 5n));
    expect(noSuchSeq.reason).toBe(ErrorReason.MESSAGE_NOT_FOUND);
    const badType = await failureOf(
      lifecycle(alice).recallMessage({ conversationId: conv, seq: sent.seq }),
    );
    expect([badType.code, badType.field]).toEqual([Code.InvalidArgument, "conversation_type"]);

    skewMs = WINDOW_MS + 1000;
    const late = await failureOf(recallC2c(alice, conv, sent.seq));
    expect([late.code, late.reason]).toEqual([
      Code.FailedPrecondition,
      ErrorReason.RECALL_WINDOW_PASSED,
    ]);
    const byAdmin = await recallC2c(ADMIN, conv, sent.seq);
    expect(byAdmin.recall?.recalledByUserId).toBe(ADMIN);
    const [m] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect(m?.recall?.recalledByUserId).toBe(ADMIN);
  });

  it("group: the sender within the window, owner and admins at any time as the type allows, members never; tips never", async () => {
    const [owner, admin, bob, carol] = await users(4);
    const groupId = uniqueId("rg");
    await groups(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      memberUserIds: [admin, bob, carol],
    });
    await groups(owner).setGroupMemberRole({ groupId, userId: admin, role: GroupRole.ADMIN });
    const carolDevice = await stream(carol);
    const send = (from: string, said: string) =>
      groups(from).sendGroupMessage({ groupId, body: [text(said)] });
    const bobs1 = await send(bob, "one");
    const bobs2 = await send(bob, "two");
    const bobs3 = await send(bob, "three");
    const unread = async () =>
      (await groups(carol, b).listJoinedGroups({})).groups.find((g) => g.group?.groupId === groupId)
        ?.unreadCount;
    expect(await unread()).toBe(3);

    const byMember = await failureOf(recallGroup(carol, groupId, bobs1.seq));
    expect([byMember.code, byMember.reason]).toEqual([
      Code.PermissionDenied,
      ErrorReason.RECALL_NOT_ALLOWED,
    ]);
    const [stranger] = await users(1);
    const outsider = await failureOf(recallGroup(stranger, groupId, bobs1.seq));
    expect(outsider.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
    // The admin-change tip took a seq before bob's messages.
    const tip = await failureOf(recallGroup(owner, groupId, bobs1.seq - 1n));
    expect(tip.reason).toBe(ErrorReason.MESSAGE_NOT_RECALLABLE);

    expect((await recallGroup(bob, groupId, bobs1.seq)).recall?.recalledByUserId).toBe(bob);
    await recalledOn(carolDevice, groupId, bobs1.seq);
    skewMs = WINDOW_MS + 1000;
    const late = await failureOf(recallGroup(bob, groupId, bobs2.seq));
    expect(late.reason).toBe(ErrorReason.RECALL_WINDOW_PASSED);
    expect((await recallGroup(admin, groupId, bobs2.seq)).recall?.recalledByUserId).toBe(admin);
    expect((await recallGroup(owner, groupId, bobs3.seq)).recall?.recalledByUserId).toBe(owner);
    const e = await recalledOn(carolDevice, groupId, bobs3.seq);
    expect(e.event.value).toMatchObject({
      conversationType: ConversationType.GROUP,
      fromUserId: bob,
      recall: { recalledByUserId: owner },
    });

    const synced = (await groups(carol, b).syncGroupMessages({ groupId, afterSeq: bobs1.seq - 1n }))
      .messages;
    expect(synced.map((m) => [m.recall?.recalledByUserId, m.body.length])).toEqual([
      [bob, 0],
      [admin, 0],
      [owner, 0],
    ]);
    expect(await unread()).toBe(0);
    await eventually(async () => {
      const fired = hooks(WebhookCommand.GROUP_AFTER_RECALL).flatMap((r) =>
        r.event.case === "groupAfterRecall" && r.event.value.groupId === groupId
          ? [r.event.value.recalledByAccount]
          : [],
      );
      expect(fired.sort()).toEqual([admin, bob, owner].sort());
    });
  });

  it("recall vs read: racing a MarkRead leaves the tombstone and an unread count that never goes negative", async () => {
    const [alice, bob] = await users(2);
    const sent = [];
    for (const said of ["a", "b", "c"]) {
      sent.push(await messages(alice, a).sendMessage({ toUserId: bob, body: [text(said)] }));
    }
    const [, second, third] = sent;
    const conv = third!.conversationId;
    const [read] = await Promise.all([
      messages(bob).markRead({ peerUserId: alice, readSeq: second!.seq }),
      recallC2c(alice, conv, second!.seq),
      recallC2c(alice, conv, third!.seq),
    ]);
    expect(read.readSeq).toBe(second!.seq);
    // Marked again: on FerretDB a read can be lost to a conversation-list write
    // of another process racing it (no atomic $max across processes; the
    // message fan-out has the same race), which is not what this test is about.
    await messages(bob).markRead({ peerUserId: alice, readSeq: second!.seq });
    await eventually(async () => {
      const [c] = (await messages(bob).listConversations({})).conversations;
      expect(c?.unreadCount).toBe(0);
      expect(c?.lastMessage?.recall?.recalledByUserId).toBe(alice);
    });
    const after = await messages(bob).markRead({ peerUserId: alice, readSeq: 0n });
    expect([after.readSeq, after.unreadCount]).toEqual([third!.seq, 0]);
  });

  it("recalls a message still in fan-out: devices end with the recall, sync with the tombstone", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    // No wait between the ack and the recall: the message's own fan-out may
    // not have run yet on either node.
    const sent = await messages(alice, a).sendMessage({ toUserId: bob, body: [text("fast")] });
    await recallC2c(alice, sent.conversationId, sent.seq);
    await recalledOn(bobDevice, sent.conversationId, sent.seq);
    const [m] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect([m?.seq, m?.body, m?.recall?.recalledByUserId]).toEqual([sent.seq, [], alice]);
    await eventually(async () => {
      const [c] = (await messages(bob).listConversations({})).conversations;
      expect([c?.lastMessage?.recall?.recalledByUserId, c?.unreadCount]).toEqual([alice, 0]);
    });
  });
  it("one-to-one edit: the sender's new version everywhere, validated and steered like a send", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    const sent = await messages(alice, a).sendMessage({ toUserId: bob, body: [text("helo")] });
    const conv = sent.conversationId;
    await bobDevice.waitForMessages(1);

    const first = await editC2c(alice, conv, sent.seq, "hello");
    expect([first.applied, first.edit?.version, first.edit?.editedByUserId]).toEqual([
      true,
      1,
      alice,
    ]);
    const e = await editedOn(bobDevice, sent.seq, 1);
    expect(e.event.case === "edited" && textOf(e.event.value.message.value)).toBe("hello");
    expect((await editC2c(alice, conv, sent.seq, "hello!")).edit?.version).toBe(2);
    await editedOn(bobDevice, sent.seq, 2);
    // Sync, history and the list give the latest version at the same seq.
    const [synced] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect([synced?.seq, textOf(synced), synced?.edit?.version]).toEqual([sent.seq, "hello!", 2]);
    const [listed] = (await messages(alice).listMessages({ peerUserId: bob })).messages;
    expect(textOf(listed)).toBe("hello!");
    await eventually(async () => {
      const [c] = (await messages(bob).listConversations({})).conversations;
      expect([textOf(c?.lastMessage), c?.lastMessage?.edit?.version]).toEqual(["hello!", 2]);
    });

    // Validated like a send, text and custom only.
    const image = await failureOf(
      lifecycle(alice).editMessage({
        conversationType: ConversationType.C2C,
        conversationId: conv,
        seq: sent.seq,
        body: [{ element: { case: "face", value: { index: 1, data: "" } } }],
      }),
    );
    expect(image.reason).toBe(ErrorReason.MESSAGE_NOT_EDITABLE);
    const tooLarge = await failureOf(editC2c(alice, conv, sent.seq, "x".repeat(13_000)));
    expect(tooLarge.reason).toBe(ErrorReason.MESSAGE_TOO_LARGE);
    const empty = await failureOf(editC2c(alice, conv, sent.seq, ""));
    expect(empty.code).toBe(Code.InvalidArgument);
    // The before-edit webhook: deny, drop, modify (a modification held to the rules).
    const denied = await failureOf(editC2c(alice, conv, sent.seq, "deny edit"));
    expect([denied.reason, denied.err.message]).toEqual([
      ErrorReason.BLOCKED_BY_WEBHOOK,
      expect.stringContaining("webhook"),
    ]);
    const dropped = await editC2c(alice, conv, sent.seq, "drop edit");
    expect([dropped.applied, dropped.edit?.version]).toEqual([false, 2]);
    expect((await editC2c(alice, conv, sent.seq, "modify edit")).edit?.version).toBe(3);
    const invalid = await editC2c(alice, conv, sent.seq, "modify to image");
    expect(invalid.edit?.version).toBe(4);
    const versions = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect(textOf(versions[0])).toBe("modify to image");
    await eventually(async () => {
      const fired = hooks(WebhookCommand.C2C_BEFORE_EDIT).flatMap((r) =>
        r.event.case === "c2cBeforeEdit" && r.event.value.msgKey === sent.messageKey
          ? [r.event.value.editVersion]
          : [],
      );
      expect(fired).toEqual([1, 2, 3, 3, 3, 4]);
    });

    const byPeer = await failureOf(editC2c(bob, conv, sent.seq, "mine now"));
    expect([byPeer.code, byPeer.reason]).toEqual([
      Code.PermissionDenied,
      ErrorReason.EDIT_NOT_ALLOWED,
    ]);
    skewMs = WINDOW_MS + 1000;
    const late = await failureOf(editC2c(alice, conv, sent.seq, "too late"));
    expect(late.reason).toBe(ErrorReason.EDIT_WINDOW_PASSED);
    expect((await editC2c(ADMIN, conv, sent.seq, "by admin")).edit?.editedByUserId).toBe(ADMIN);
  });

  it("group edit: members' devices get the new version; only the sender (or an app admin) edits", async () => {
    const [owner, bob, carol] = await users(3);
    const groupId = uniqueId("eg");
    await groups(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      memberUserIds: [bob, carol],
    });
    const carolDevice = await stream(carol);
    const sent = await groups(bob).sendGroupMessage({ groupId, body: [text("draft")] });
    const byOwner = await failureOf(editGroup(owner, groupId, sent.seq, "owner's"));
    expect(byOwner.reason).toBe(ErrorReason.EDIT_NOT_ALLOWED);
    expect((await editGroup(bob, groupId, sent.seq, "final")).edit?.version).toBe(1);
    const e = await editedOn(carolDevice, sent.seq, 1);
    expect(e.event.case === "edited" && e.event.value.message.case).toBe("groupMessage");
    const synced = (await groups(carol, b).syncGroupMessages({ groupId, afterSeq: sent.seq - 1n }))
      .messages;
    expect([textOf(synced[0]), synced[0]?.edit?.version]).toEqual(["final", 1]);
    await eventually(async () => {
      expect(hooks(WebhookCommand.GROUP_BEFORE_EDIT).length).toBeGreaterThan(0);
    });
  });

  it("edit vs recall: the recall wins, and an edit of a recalled message is refused", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    const sent = await messages(alice, a).sendMessage({ toUserId: bob, body: [text("race")] });
    const conv = sent.conversationId;
    const [edit, recall] = await Promise.allSettled([
      editC2c(alice, conv, sent.seq, "edited in the race"),
      recallC2c(alice, conv, sent.seq),
    ]);
    expect(recall.status).toBe("fulfilled");
    if (edit.status === "rejected") {
      expect((await failureOf(Promise.reject(edit.reason))).reason).toBe(
        ErrorReason.MESSAGE_RECALLED,
      );
    }
    await recalledOn(bobDevice, conv, sent.seq);
    const [m] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect([m?.body, m?.recall?.recalledByUserId]).toEqual([[], alice]);
    const after = await failureOf(editC2c(alice, conv, sent.seq, "too late"));
    expect([after.code, after.reason]).toEqual([
      Code.FailedPrecondition,
      ErrorReason.MESSAGE_RECALLED,
    ]);
    // Two processes on FerretDB can lose one of two racing list writes (README,
    // Known limits: no atomic $max across processes), here the tombstone to the
    // edit's version; one process, or MongoDB, orders them by version.
    if (nodes === 1) {
      await eventually(async () => {
        const [c] = (await messages(bob).listConversations({})).conversations;
        expect([c?.lastMessage?.recall?.recalledByUserId, c?.lastMessage?.body]).toEqual([
          alice,
          [],
        ]);
      });
    }
  });
});

describe("recall while the bus is down (FerretDB + a nats-server of the test's own)", () => {
  it("publishes the recall through the outbox once the bus is back: the original never goes out", async () => {
    const nats = await startNatsServer();
    const app = await startTestApp({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("recalldown"),
      NATS_URL: nats.url,
      OUTBOX_INTERVAL_MS: "200",
      OUTBOX_STALE_MS: "300",
    });
    try {
      await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
        accounts: [{ userId: "alice" }, { userId: "bob" }],
      });
      const client = clientAs(MessageService, app.baseUrl, "alice");
      await nats.stop("SIGKILL");
      // Stored and acked with its outbox mark; not published while the bus is down.
      const sent = await client.sendMessage({ toUserId: "bob", body: [text("never seen")] });
      await clientAs(MessageLifecycleService, app.baseUrl, "alice").recallMessage({
        conversationType: ConversationType.C2C,
        conversationId: sent.conversationId,
        seq: sent.seq,
      });
      await nats.restart();
      const bobDevice = await openStream(app.baseUrl, "bob");
      try {
        // Opened after the outage: the recall reaches it only if the outbox
        // publishes it later; wait for that (the recovery pass runs every 200 ms).
        await eventually(async () => {
          const [c] = (await clientAs(MessageService, app.baseUrl, "bob").listConversations({}))
            .conversations;
          expect(c?.lastMessage?.recall?.recalledByUserId).toBe("alice");
        }, 30_000);
        // The tombstone went out in place of the message: no device ever got the body.
        expect(bobDevice.messages().filter((m) => m.body.length > 0)).toEqual([]);
        const [m] = (
          await clientAs(MessageService, app.baseUrl, "bob").syncMessages({ peerUserId: "alice" })
        ).messages;
        expect([m?.body, m?.recall?.recalledByUserId]).toEqual([[], "alice"]);
      } finally {
        bobDevice.close();
      }
    } finally {
      await app.close();
      await nats.dispose();
    }
  }, 90_000);
});
