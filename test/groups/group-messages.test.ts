import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessagePriority,
  GroupTipType,
  GroupType,
  MessageReceiveOption,
} from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { WebhookCommand, type WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import { decodeWebhookRequest } from "../../src/webhooks/index.js";
import { startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import { type GroupStream, groupClients, openGroupStream } from "./support.js";

const textOf = (m: GroupMessage) =>
  m.body[0]?.element.case === "text" ? m.body[0].element.value.text : "";
/** Retries a (sync or async) check until it passes. */
const soon = (check: () => unknown, timeoutMs?: number) =>
  eventually(async () => check(), timeoutMs);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Group messages end to end through GroupService and live streams, on the
 * embedded default and on FerretDB + nats-server, with a real webhook endpoint
 * whose verdict depends on the message text.
 */
describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("gmsg"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("gmsg"),
    }),
  ],
])("group messages on %s", (_name, env) => {
  let app: TestApp;
  let hook: TestServer;
  let c: Awaited<ReturnType<typeof groupClients>>;
  // Frozen while a test needs every send inside one frequency-control second.
  let frozenAt: number | undefined;
  let n = 0;
  const streams: GroupStream[] = [];
  const gid = (p: string) => `${p}-${++n}-${Math.random().toString(36).slice(2, 6)}`;
  const users = async (count: number) => {
    const ids = Array.from(
      { length: count },
      () => `gm${++n}_${Math.random().toString(36).slice(2, 7)}`,
    );
    await groupClients(app, ids);
    return ids as [string, string, string, string];
  };
  const stream = async (userId: string) => {
    const s = await openGroupStream(app, userId);
    streams.push(s);
    return s;
  };
  const messagesOf = (s: GroupStream, groupId: string, kind = GroupMessageKind.NORMAL) =>
    s.groupMessages().filter((m) => m.groupId === groupId && m.kind === kind);
  const send = (from: string, groupId: string, body: string, more: Record<string, unknown> = {}) =>
    c.as(from).sendGroupMessage({ groupId, body: [text(body)], ...more });
  const sync = async (user: string, groupId: string, afterSeq = 0n) =>
    (await c.as(user).syncGroupMessages({ groupId, afterSeq })).messages;
  const hooks = (command: WebhookCommand): WebhookRequest[] =>
    hook.received.map((r) => decodeWebhookRequest(r.body)).filter((r) => r.command === command);

  beforeAll(async () => {
    hook = await startTestServer((req, res) => {
      const request = decodeWebhookRequest(req.body);
      const event = request.event;
      let reply: object = { action: "BEFORE_SEND_ACTION_ALLOW" };
      let slow = false;
      if (event.case === "groupBeforeSend") {
        const first = event.value.body[0]?.element;
        const said = first?.case === "text" ? first.value.text : "";
        slow = said === "slow me";
        if (said === "deny me")
          reply = { action: "BEFORE_SEND_ACTION_DENY", appCode: 4242, appText: "not here" };
        if (said === "drop me") reply = { action: "BEFORE_SEND_ACTION_DROP" };
        if (said === "modify me")
          reply = {
            action: "BEFORE_SEND_ACTION_MODIFY",
            body: [{ text: { text: "modified" } }],
          };
      }
      const answer = () =>
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
      if (slow) setTimeout(answer, 1000);
      else answer();
    });
    app = await startTestApp(
      {
        ...env(),
        WEBHOOK_URL: hook.url,
        WEBHOOK_SECRET: "s3cret",
        GROUP_MESSAGE_RATE_MAX: "10",
      },
      { clock: () => frozenAt ?? Date.now() },
    );
    c = await groupClients(app, []);
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await app?.close();
    await hook?.close();
  });

  const createGroup = async (type: GroupType, owner: string, members: string[]) => {
    const groupId = gid("g");
    await c.as(owner).createGroup({ type, name: "g", groupId, memberUserIds: members });
    return groupId;
  };

  it("sequences a group's messages from 1 and delivers them live to every member but those discarding them", async () => {
    const [alice, bob, carol, dave] = await users(4);
    const groupId = await createGroup(GroupType.PUBLIC, alice, [bob, carol, dave]);
    await c.as(dave).modifyGroupMember({
      groupId,
      receiveOption: MessageReceiveOption.DISCARD,
    });
    const [aS, bS, cS, dS] = await Promise.all([alice, bob, carol, dave].map(stream));
    const r1 = await send(alice, groupId, "one");
    const r2 = await send(bob, groupId, "two", { atUserIds: [alice], cloudCustomData: "cc" });
    expect([r1.seq, r2.seq]).toEqual([1n, 2n]);
    expect(r1.messageKey).toBe(`${groupId}:1`);
    for (const s of [aS, bS, cS]) {
      await soon(() => expect(messagesOf(s!, groupId).map(textOf)).toEqual(["one", "two"]));
    }
    const m2 = messagesOf(cS!, groupId)[1]!;
    expect(m2).toMatchObject({
      seq: 2n,
      fromUserId: bob,
      atUserIds: [alice],
      cloudCustomData: "cc",
      priority: GroupMessagePriority.NORMAL,
    });
    // Dave discards the group's messages (read when his stream opened)...
    await sleep(100);
    expect(messagesOf(dS!, groupId)).toEqual([]);
    expect((await sync(carol, groupId)).map((m) => Number(m.seq))).toEqual([1, 2]);
    // ...but still gets its tips.
    await c.as(alice).modifyGroup({ groupId, name: "renamed" });
    await soon(() => expect(messagesOf(dS!, groupId, GroupMessageKind.TIP)).toHaveLength(1));
    // Changing the option takes effect on the open stream, both ways.
    await c.as(dave).modifyGroupMember({
      groupId,
      receiveOption: MessageReceiveOption.ACCEPT_NOT_NOTIFY,
    });
    await send(alice, groupId, "three");
    await soon(() => expect(messagesOf(dS!, groupId).map(textOf)).toEqual(["three"]));
    await c.as(dave).modifyGroupMember({ groupId, receiveOption: MessageReceiveOption.DISCARD });
    await send(alice, groupId, "four");
    await soon(() => expect(messagesOf(cS!, groupId).map(textOf)).toContain("four"));
    await sleep(100);
    expect(messagesOf(dS!, groupId).map(textOf)).toEqual(["three"]);
    const member = (await c.as(bob).getGroupMembers({ groupId, userIds: [bob] })).members[0];
    expect(member?.lastSendTimeMs).toBeGreaterThan(0n);
  });

  it("refuses muted members and, under mute-all, all but the owner and admins", async () => {
    const [owner, admin, bob, outsider] = await users(4);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [admin, bob]);
    await c.as(owner).setGroupMemberRole({ groupId, userId: admin, role: 2 });
    await c.as(owner).muteGroupMembers({ groupId, userIds: [bob], muteSeconds: 60 });
    const muted = await failureOf(send(bob, groupId, "hi"));
    expect([muted.code, muted.reason]).toEqual([Code.PermissionDenied, ErrorReason.MEMBER_MUTED]);
    await c.as(owner).muteGroupMembers({ groupId, userIds: [bob], muteSeconds: 0 });
    // (Admin and mute tips are stored in a Public group and take seqs too.)
    expect((await send(bob, groupId, "unmuted")).seq).toBeGreaterThan(0n);

    await c.as(owner).modifyGroup({ groupId, muteAll: true });
    expect((await failureOf(send(bob, groupId, "hi"))).reason).toBe(ErrorReason.GROUP_MUTED_ALL);
    expect((await send(admin, groupId, "admin speaks")).seq).toBeGreaterThan(0n);
    expect((await send(owner, groupId, "owner speaks")).seq).toBeGreaterThan(0n);
    const stranger = await failureOf(send(outsider, groupId, "hi"));
    expect(stranger.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
    const missing = await failureOf(send(owner, "no-such-group", "hi"));
    expect(missing.reason).toBe(ErrorReason.GROUP_NOT_FOUND);
    const empty = await failureOf(c.as(owner).sendGroupMessage({ groupId, body: [] }));
    expect(empty.reason).toBe(ErrorReason.MESSAGE_BODY_EMPTY);
  });

  it("lets an app admin send without membership, as itself or as a user", async () => {
    const [owner, bob, someone] = await users(3);
    const groupId = await createGroup(GroupType.COMMUNITY, owner, [bob]);
    const bS = await stream(bob);
    const own = await c.admin.sendGroupMessage({ groupId, body: [text("from admin")] });
    const asUser = await c.admin.sendGroupMessage({
      groupId,
      body: [text("as someone")],
      fromUserId: someone,
    });
    expect([own.seq, asUser.seq]).toEqual([1n, 2n]);
    await soon(() =>
      expect(messagesOf(bS, groupId).map((m) => m.fromUserId)).toEqual([ADMIN, someone]),
    );
    const notAdmin = await failureOf(send(bob, groupId, "x", { fromUserId: owner }));
    expect(notAdmin.reason).toBe(ErrorReason.ADMIN_OPTION);
    const ghost = await failureOf(
      c.admin.sendGroupMessage({ groupId, body: [text("x")], fromUserId: "ghost_user" }),
    );
    expect(ghost.reason).toBe(ErrorReason.SENDER_NOT_FOUND);
  });

  it("sends system messages to all or some online members, never stored", async () => {
    const [owner, bob, carol] = await users(3);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob, carol]);
    const [bS, cS] = await Promise.all([stream(bob), stream(carol)]);
    await c.admin.sendGroupSystemMessage({ groupId, body: [text("to all")] });
    await c.admin.sendGroupSystemMessage({ groupId, body: [text("to carol")], toUserIds: [carol] });
    const system = (s: GroupStream) => messagesOf(s, groupId, GroupMessageKind.SYSTEM).map(textOf);
    // "to all" goes through the work consumer, "to carol" straight to her streams: any order.
    await soon(() => expect(system(cS).sort()).toEqual(["to all", "to carol"]));
    await soon(() => expect(system(bS)).toEqual(["to all"]));
    expect(messagesOf(cS, groupId, GroupMessageKind.SYSTEM)[0]?.seq).toBe(0n);
    expect(await sync(owner, groupId)).toEqual([]);
    const denied = await failureOf(
      c.as(owner).sendGroupSystemMessage({ groupId, body: [text("x")] }),
    );
    expect(denied.reason).toBe(ErrorReason.GROUP_PERMISSION_DENIED);
  });

  it("delivers online-only messages live without a seq or history", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    const bS = await stream(bob);
    const r = await send(owner, groupId, "now only", { options: { onlineOnly: true } });
    expect([r.seq, r.messageKey]).toEqual([0n, ""]);
    await soon(() => expect(messagesOf(bS, groupId).map(textOf)).toEqual(["now only"]));
    expect(messagesOf(bS, groupId)[0]).toMatchObject({ seq: 0n, onlineOnly: true });
    expect(await sync(bob, groupId)).toEqual([]);
  });

  it("discards a duplicate (same sender, random and content) and answers with the original", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    const first = await send(bob, groupId, "same", { random: 77 });
    const again = await send(bob, groupId, "same", { random: 77 });
    expect(again).toMatchObject({ seq: first.seq, messageKey: first.messageKey, duplicate: true });
    const otherContent = await send(bob, groupId, "different", { random: 77 });
    const otherSender = await send(owner, groupId, "same", { random: 77 });
    const noRandom = [await send(bob, groupId, "ok"), await send(bob, groupId, "ok")];
    const byClientId = [
      await send(bob, groupId, "a", { clientMessageId: "cid-1" }),
      await send(bob, groupId, "b", { clientMessageId: "cid-1" }),
    ];
    expect([otherContent.duplicate, otherSender.duplicate]).toEqual([false, false]);
    expect(noRandom[1]?.seq).toBe((noRandom[0]?.seq ?? 0n) + 1n);
    expect(byClientId[1]).toMatchObject({ seq: byClientId[0]?.seq, duplicate: true });
    expect((await sync(bob, groupId)).map(textOf)).toEqual([
      "same",
      "different",
      "same",
      "ok",
      "ok",
      "a",
    ]);
  });

  it("shows history from before joining only where the type allows, and pages it", async () => {
    const [owner, early, late] = await users(3);
    for (const [type, preJoin] of [
      [GroupType.PUBLIC, false],
      [GroupType.COMMUNITY, true],
      [GroupType.MEETING, true],
    ] as const) {
      const groupId = await createGroup(type, owner, [early]);
      await send(owner, groupId, "before");
      await c.admin.addGroupMembers({ groupId, userIds: [late] });
      await send(owner, groupId, "after");
      await c.as(owner).getGroup({ groupId }); // let queued tips settle
      await soon(async () => expect((await sync(early, groupId)).map(textOf)).toContain("after"));
      const seen = (await sync(late, groupId)).filter((m) => m.kind === GroupMessageKind.NORMAL);
      expect(seen.map(textOf)).toEqual(preJoin ? ["before", "after"] : ["after"]);
      const listed = (await c.as(late).listGroupMessages({ groupId })).messages;
      expect(listed.some((m) => textOf(m) === "before")).toBe(preJoin);
      expect(
        (await sync(early, groupId)).filter((m) => m.kind === GroupMessageKind.NORMAL).map(textOf),
      ).toEqual(["before", "after"]);
    }
    // Paging: newest first, continued by cursor.
    const groupId = await createGroup(GroupType.COMMUNITY, owner, []);
    for (const word of ["m1", "m2", "m3", "m4", "m5"]) await send(owner, groupId, word);
    const page1 = await c.as(owner).listGroupMessages({ groupId, page: { pageSize: 2 } });
    const page2 = await c
      .as(owner)
      .listGroupMessages({ groupId, page: { pageSize: 2, cursor: page1.page?.nextCursor } });
    expect([...page1.messages, ...page2.messages].map(textOf)).toEqual(["m5", "m4", "m3", "m2"]);
    const s = await c.as(owner).syncGroupMessages({ groupId, afterSeq: 1n, limit: 2 });
    expect([s.messages.map(textOf), s.coveredUpToSeq, s.hasMore, s.lastSeq]).toEqual([
      ["m2", "m3"],
      3n,
      true,
      5n,
    ]);
    const outsider = await failureOf(c.as(late).syncGroupMessages({ groupId }));
    expect(outsider.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
  });

  it("keeps read seq and unread counts for types that have them, telling every device", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.COMMUNITY, owner, [bob]);
    const bS = await stream(bob);
    await send(owner, groupId, "1");
    await send(owner, groupId, "2");
    await send(bob, groupId, "mine");
    const last = await send(owner, groupId, "3", { options: { noUnread: true } });
    const r4 = await send(owner, groupId, "4");
    const unreadListed = async () =>
      (await c.as(bob).listJoinedGroups({})).groups.find((g) => g.group?.groupId === groupId)
        ?.unreadCount;
    // Bob's own and the no-unread message do not count.
    expect(await unreadListed()).toBe(3);
    const partial = await c.as(bob).markGroupRead({ groupId, readSeq: 1n });
    expect(partial).toMatchObject({ readSeq: 1n, unreadCount: 2 });
    expect(await unreadListed()).toBe(2);
    const all = await c.as(bob).markGroupRead({ groupId });
    expect(all).toMatchObject({ readSeq: r4.seq, unreadCount: 0 });
    expect(await unreadListed()).toBe(0);
    expect(last.seq).toBe(4n);
    const lower = await c.as(bob).markGroupRead({ groupId, readSeq: 2n });
    expect(lower.readSeq).toBe(r4.seq);
    await soon(() =>
      expect(
        bS.events.filter((e) => e.event.case === "groupRead").map((e) => e.event.value),
      ).toContainEqual(expect.objectContaining({ groupId, readSeq: r4.seq, unreadCount: 0 })),
    );
    // The read that raised nothing told no device: by the time a later message
    // arrives (published after it, in order), only the two rises did.
    const r5 = await send(owner, groupId, "5");
    await soon(() => expect(messagesOf(bS, groupId).map((m) => m.seq)).toContain(r5.seq));
    expect(
      bS.events.flatMap((e) => (e.event.case === "groupRead" ? [e.event.value.readSeq] : [])),
    ).toEqual([1n, r4.seq]);
    const meeting = await createGroup(GroupType.MEETING, owner, [bob]);
    const unsupported = await failureOf(c.as(bob).markGroupRead({ groupId: meeting }));
    expect(unsupported.reason).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
  });

  it("delivers AVChatRoom messages to online members only, with no history", async () => {
    const [owner, viewer, late] = await users(3);
    const groupId = await createGroup(GroupType.AV_CHAT_ROOM, owner, []);
    // Streaming before joining: the stream follows the room once the user joins.
    const vS = await stream(viewer);
    const oS = await stream(owner);
    // No wait needed: the join's membership change is on the bus before the send's
    // events (one connection per node, published in order).
    await c.as(viewer).applyJoinGroup({ groupId });
    const r = await send(owner, groupId, "live!");
    expect(r.seq).toBe(0n);
    await soon(() => expect(messagesOf(vS, groupId).map(textOf)).toEqual(["live!"]));
    await soon(() => expect(messagesOf(oS, groupId).map(textOf)).toEqual(["live!"]));
    // A stream opened after joining follows the room from the start.
    await c.as(late).applyJoinGroup({ groupId });
    const lS = await stream(late);
    await send(viewer, groupId, "hello room");
    await soon(() => expect(messagesOf(lS, groupId).map(textOf)).toEqual(["hello room"]));
    const noHistory = await failureOf(c.as(viewer).syncGroupMessages({ groupId }));
    expect(noHistory.reason).toBe(ErrorReason.GROUP_TYPE_UNSUPPORTED);
    // After quitting, the room's traffic stops reaching the stream.
    await c.as(late).quitGroup({ groupId });
    await send(owner, groupId, "after quit");
    await soon(() => expect(messagesOf(vS, groupId)).toHaveLength(3));
    // A sentinel sent once "after quit" was out: a stream gets its events in order,
    // so had "after quit" been written to lS, it would be there before this.
    await clientAs(MessageService, app.baseUrl, owner).sendMessage({
      toUserId: late,
      body: [text("sentinel")],
    });
    await lS.waitFor((e) => e.event.case === "message");
    expect(messagesOf(lS, groupId).map(textOf)).toEqual(["hello room"]);
    // System messages reach the room too.
    await c.admin.sendGroupSystemMessage({ groupId, body: [text("sys")] });
    await soon(() =>
      expect(messagesOf(vS, groupId, GroupMessageKind.SYSTEM).map(textOf)).toEqual(["sys"]),
    );
  });

  it("drops lower priorities first over the per-second limit, answering success", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    const beforeSends = hooks(WebhookCommand.GROUP_BEFORE_SEND).length;
    frozenAt = Date.now();
    const results: { p: GroupMessagePriority; seq: bigint }[] = [];
    try {
      // Limit 10: Low fills up to 8, Normal up to 9, High up to 10.
      const plan = [
        ...Array(9).fill(GroupMessagePriority.LOW),
        ...Array(2).fill(GroupMessagePriority.NORMAL),
        ...Array(2).fill(GroupMessagePriority.HIGH),
      ] as GroupMessagePriority[];
      for (const [i, p] of plan.entries()) {
        const r = await send(bob, groupId, `p${p}-${i}`, { priority: p });
        results.push({ p, seq: r.seq });
      }
    } finally {
      frozenAt = undefined;
    }
    const stored = (p: GroupMessagePriority) =>
      results.filter((r) => r.p === p && r.seq > 0n).length;
    expect([
      stored(GroupMessagePriority.LOW),
      stored(GroupMessagePriority.NORMAL),
      stored(GroupMessagePriority.HIGH),
    ]).toEqual([8, 1, 1]);
    expect(
      (await sync(bob, groupId)).filter((m) => m.kind === GroupMessageKind.NORMAL),
    ).toHaveLength(10);
    // Before-send was called for every message, dropped ones included; after-send only for stored ones.
    await soon(() => expect(hooks(WebhookCommand.GROUP_BEFORE_SEND).length - beforeSends).toBe(13));
    await soon(() =>
      expect(
        hooks(WebhookCommand.GROUP_AFTER_SEND).filter(
          (h) => h.event.case === "groupAfterSend" && h.event.value.groupId === groupId,
        ),
      ).toHaveLength(10),
    );
    // Another group has its own budget.
    const other = await createGroup(GroupType.PUBLIC, owner, []);
    expect((await send(owner, other, "free")).seq).toBe(1n);
  });

  it("stores nothing for a send whose caller's deadline passed while the webhook was waited for", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    const req = { groupId, body: [text("slow me")], random: 7 };
    const gaveUp = await failureOf(c.as(owner).sendGroupMessage(req, { timeoutMs: 300 }));
    expect(gaveUp.code).toBe(Code.DeadlineExceeded);
    await sleep(1300);
    expect((await sync(bob, groupId)).filter((m) => m.kind === GroupMessageKind.NORMAL)).toEqual(
      [],
    );
    const retried = await c.as(owner).sendGroupMessage(req);
    expect(retried.duplicate).toBe(false);
  });

  it("runs the group before-send and after-send webhooks: deny passes the app's code through, drop and modify", async () => {
    const [owner, bob] = await users(2);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    const bS = await stream(bob);
    const denied = await failureOf(send(owner, groupId, "deny me"));
    expect([denied.code, denied.reason]).toEqual([
      Code.PermissionDenied,
      ErrorReason.BLOCKED_BY_WEBHOOK,
    ]);
    expect(JSON.stringify(denied.err.details)).toBeTruthy();
    const { ErrorDetailSchema } = await import("../../src/gen/im/v1/errors_pb.js");
    expect(denied.err.findDetails(ErrorDetailSchema)[0]).toMatchObject({
      appCode: 4242,
      appText: "not here",
    });
    const dropped = await send(owner, groupId, "drop me");
    expect([dropped.seq, dropped.duplicate]).toEqual([0n, false]);
    const modified = await send(owner, groupId, "modify me");
    expect(modified.seq).toBe(1n);
    await soon(() => expect(messagesOf(bS, groupId).map(textOf)).toEqual(["modified"]));
    expect((await sync(bob, groupId)).map(textOf)).toEqual(["modified"]);
    const after = await (async () => {
      let found: WebhookRequest[] = [];
      await soon(() => {
        found = hooks(WebhookCommand.GROUP_AFTER_SEND).filter(
          (h) => h.event.case === "groupAfterSend" && h.event.value.groupId === groupId,
        );
        expect(found).toHaveLength(1);
      });
      return found[0]!;
    })();
    expect(after.event.value).toMatchObject({
      fromAccount: owner,
      seq: 1n,
      msgKey: `${groupId}:1`,
    });
    // Admin skips both hooks.
    await c.admin.sendGroupMessage({
      groupId,
      body: [text("deny me")],
      options: { skipBeforeSendWebhook: true, skipAfterSendWebhook: true },
    });
    await sleep(200);
    expect(
      hooks(WebhookCommand.GROUP_AFTER_SEND).filter(
        (h) => h.event.case === "groupAfterSend" && h.event.value.groupId === groupId,
      ),
    ).toHaveLength(1);
  });

  it("stores tips where the type says so, with a seq; a Work group activates on its first message", async () => {
    const [owner, bob, carol] = await users(3);
    const groupId = await createGroup(GroupType.PUBLIC, owner, [bob]);
    await send(owner, groupId, "hello");
    const bS = await stream(bob);
    await c.admin.addGroupMembers({ groupId, userIds: [carol] });
    const tip = await bS.waitForTip(groupId, GroupTipType.MEMBERS_JOINED);
    expect(tip.seq).toBe(2n);
    expect((await sync(bob, groupId)).map((m) => [Number(m.seq), m.kind])).toEqual([
      [1, GroupMessageKind.NORMAL],
      [2, GroupMessageKind.TIP],
    ]);
    // A Meeting group does not store member-change tips.
    const meeting = await createGroup(GroupType.MEETING, owner, [bob]);
    await c.as(owner).modifyGroup({ groupId: meeting, name: "renamed" });
    const profileTip = await bS.waitForTip(meeting, GroupTipType.PROFILE_CHANGED);
    expect(profileTip.seq).toBe(1n);

    const work = await createGroup(GroupType.WORK, owner, [bob]);
    await c.as(owner).addGroupMembers({ groupId: work, userIds: [carol] });
    const workTip = await bS.waitForTip(work, GroupTipType.MEMBERS_JOINED).catch(() => undefined);
    expect(workTip?.seq ?? 0n).toBe(0n);
    const hidden = await failureOf(send(bob, work, "too early"));
    expect(hidden.reason).toBe(ErrorReason.GROUP_NOT_FOUND);
    expect((await send(owner, work, "first")).seq).toBe(1n);
    expect((await c.as(bob).getGroup({ groupId: work })).group?.active).toBe(true);
    expect((await send(bob, work, "now visible")).seq).toBe(2n);
  });

  it("deletes a disbanded group's history so its id can be reused", async () => {
    const [owner] = await users(1);
    const groupId = await createGroup(GroupType.PUBLIC, owner, []);
    await send(owner, groupId, "old");
    await c.as(owner).disbandGroup({ groupId });
    await c.as(owner).createGroup({ type: GroupType.PUBLIC, name: "again", groupId });
    expect((await send(owner, groupId, "new")).seq).toBe(1n);
    expect((await sync(owner, groupId)).map(textOf)).toEqual(["new"]);
  });
});
