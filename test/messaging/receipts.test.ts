import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { ReaderFilter, ReceiptService } from "../../src/gen/im/v1/receipts_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import type { OpenStream } from "../support/streams.js";
import { ADMIN, type TestApp } from "../support/test-app.js";
import { nodePairKit } from "./node-pair-kit.js";

const WINDOW_MS = 300;

/**
 * Delivered and read receipts end to end through real streams, on the
 * embedded default (one node) and on FerretDB + nats-server with two nodes:
 * readers call one node, the sender's device streams from the other.
 */
describe.each([
  ["memory + in-process bus", () => ({}), 1],
  [
    "FerretDB + nats-server, two nodes",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("receipts"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("receipts"),
    }),
    2,
  ],
] as const)("receipts on %s", (_name, env, nodes) => {
  let a: TestApp;
  let b: TestApp;
  const kit = nodePairKit("rc");
  const { users, stream } = kit;
  const messages = (userId: string, app = a) => clientAs(MessageService, app.baseUrl, userId);
  const receipts = (userId: string, app = a) => clientAs(ReceiptService, app.baseUrl, userId);
  const groups = (userId: string, app = a) => clientAs(GroupService, app.baseUrl, userId);
  /** Every other reader goes through the other node. */
  const nodeOf = (i: number) => (i % 2 === 0 ? a : b);
  const c2cReceipts = (s: OpenStream) =>
    s.events.flatMap((e) =>
      e.event.case === "c2cReceipt"
        ? [
            [
              e.event.value.peerUserId,
              Number(e.event.value.deliveredSeq),
              Number(e.event.value.readSeq),
            ],
          ]
        : [],
    );
  const groupReceipts = (s: OpenStream, messageKey: string) =>
    s.events.flatMap((e) =>
      e.event.case === "groupReceipt" && e.event.value.messageKey === messageKey
        ? [e.event.value.readCount]
        : [],
    );
  const newGroup = async (owner: string, members: string[], type = GroupType.PUBLIC) => {
    const groupId = uniqueName("rg").slice(0, 40);
    await groups(owner).createGroup({ type, name: "g", groupId, memberUserIds: members });
    return groupId;
  };

  beforeAll(async () => {
    const settings = { ...env(), RECEIPT_GROUP_EVENT_MS: String(WINDOW_MS), RECEIPT_ACK_MAX: "3" };
    ({ a, b } = await kit.start(settings, nodes));
  });
  afterAll(() => kit.close());

  it("one-to-one: acks and syncs mark delivered, MarkRead marks read; the sender is told and can ask", async () => {
    const [alice, bob] = await users(2);
    const aliceDevice = await stream(alice);
    let last = { seq: 0n, conversationId: "" };
    for (const said of ["one", "two", "three"]) {
      last = await messages(alice).sendMessage({ toUserId: bob, body: [text(said)] });
    }
    const peerMarks = async () => {
      const r = await receipts(alice, b).getC2CReceipts({ peerUserId: bob });
      return [r.conversationId, Number(r.peerDeliveredSeq), Number(r.peerReadSeq)];
    };
    const conv = last.conversationId;
    expect(await peerMarks()).toEqual([conv, 0, 0]);

    await receipts(bob).ackDelivered({ acks: [{ peerUserId: alice, seq: 2n }] });
    await aliceDevice.waitFor((e) => e.event.case === "c2cReceipt", 15_000);
    expect(c2cReceipts(aliceDevice)).toEqual([[bob, 2, 0]]);
    expect(await peerMarks()).toEqual([conv, 2, 0]);
    // Past the latest seq is clamped to it; lower does not go back (and tells nobody).
    await receipts(bob).ackDelivered({
      acks: [
        { peerUserId: alice, seq: 1n },
        { peerUserId: alice, seq: 99n },
      ],
    });
    expect(await peerMarks()).toEqual([conv, 3, 0]);
    await receipts(bob, b).ackDelivered({ acks: [{ peerUserId: alice, seq: 1n }] });

    await messages(bob).markRead({ peerUserId: alice, readSeq: 2n });
    expect(await peerMarks()).toEqual([conv, 3, 2]);
    // Reads that raise nothing tell alice nothing.
    await messages(bob).markRead({ peerUserId: alice, readSeq: 2n });
    await messages(bob).markRead({ peerUserId: alice, readSeq: 1n });
    // A fourth message reaches bob by sync alone: delivered.
    await messages(alice).sendMessage({ toUserId: bob, body: [text("four")] });
    // Node a published its receipts to alice before this message (in order on
    // one connection): by now they are all here, and no more than the rises.
    await aliceDevice.waitFor((e) => e.event.case === "message" && e.event.value.seq === 4n);
    expect(c2cReceipts(aliceDevice).sort()).toEqual([
      [bob, 2, 0],
      [bob, 3, 0],
      [bob, 3, 2],
    ]);
    const synced = await messages(bob, b).syncMessages({ peerUserId: alice, afterSeq: 3n });
    expect(synced.messages.map((m) => Number(m.seq))).toEqual([4]);
    expect(await peerMarks()).toEqual([conv, 4, 2]);
    await messages(bob, b).markRead({ peerUserId: alice });
    expect(await peerMarks()).toEqual([conv, 4, 4]);
    // Live events of two nodes may arrive in either order: compare as a set.
    await eventually(async () => {
      expect(c2cReceipts(aliceDevice).sort()).toEqual([
        [bob, 2, 0],
        [bob, 3, 0],
        [bob, 3, 2],
        [bob, 4, 2],
        [bob, 4, 4],
      ]);
    });
    // Bob's side: alice has neither acked nor read anything (her own messages aside).
    const mine = await receipts(bob).getC2CReceipts({ peerUserId: alice });
    expect([Number(mine.peerDeliveredSeq), Number(mine.peerReadSeq)]).toEqual([0, 0]);

    const tooMany = [1, 2, 3, 4].map((i) => ({ peerUserId: `p${i}`, seq: 1n }));
    for (const [acks, reason] of [
      [[], ErrorReason.INVALID_FIELD],
      [tooMany, ErrorReason.TOO_MANY_ITEMS],
    ] as const) {
      const f = await failureOf(receipts(bob).ackDelivered({ acks: [...acks] }));
      expect([f.code, f.reason, f.field]).toEqual([Code.InvalidArgument, reason, "acks"]);
    }
  });

  it("group: read receipts are asked per message where the type allows them", async () => {
    const [owner, bob] = await users(2);
    for (const type of [GroupType.WORK, GroupType.PUBLIC, GroupType.COMMUNITY]) {
      const groupId = await newGroup(owner, [bob], type);
      // The owner sends: a Work group is invisible to members until its first message.
      const sent = await groups(owner).sendGroupMessage({
        groupId,
        body: [text("read me")],
        needReadReceipt: true,
      });
      expect(sent.seq).toBeGreaterThan(0n);
      const synced = await groups(bob).syncGroupMessages({ groupId });
      expect(synced.messages.find((m) => m.seq === sent.seq)?.needReadReceipt).toBe(true);
    }
    for (const type of [GroupType.MEETING, GroupType.AV_CHAT_ROOM]) {
      const groupId = await newGroup(owner, type === GroupType.MEETING ? [bob] : [], type);
      const f = await failureOf(
        groups(owner).sendGroupMessage({ groupId, body: [text("x")], needReadReceipt: true }),
      );
      expect([f.code, f.reason, f.field]).toEqual([
        Code.FailedPrecondition,
        ErrorReason.READ_RECEIPT_NOT_ALLOWED,
        "need_read_receipt",
      ]);
    }
    const publicGroup = await newGroup(owner, [bob]);
    const f = await failureOf(
      groups(owner).sendGroupMessage({
        groupId: publicGroup,
        body: [text("x")],
        needReadReceipt: true,
        options: { onlineOnly: true },
      }),
    );
    expect(f.reason).toBe(ErrorReason.READ_RECEIPT_NOT_ALLOWED);
  });

  it("group: reads count per message, readers and not-yet-readers page, events are coalesced", async () => {
    const [owner, ...members] = await users(13);
    const readers = members.slice(0, 11);
    const [outsider] = members.slice(11) as [string];
    const groupId = await newGroup(owner as string, readers);
    const ownerDevice = await stream(owner as string);
    const send = (needReadReceipt: boolean) =>
      groups(owner as string).sendGroupMessage({
        groupId,
        body: [text("news")],
        needReadReceipt,
      });
    const m1 = await send(true);
    const m2 = await send(false);
    const m3 = await send(true);
    // Joined after the messages: never a not-yet-reader (no pre-join history in Public).
    await groups(ADMIN).addGroupMembers({ groupId, userIds: [outsider] });

    const list = async (filter: ReaderFilter, seq = m1.seq, pageSize = 4) => {
      const all: string[] = [];
      let cursor = "";
      let readCount = 0;
      do {
        const page = await receipts(owner as string, b).listGroupReaders({
          groupId,
          seq,
          filter,
          page: { pageSize, cursor },
        });
        all.push(...page.userIds);
        readCount = page.readCount;
        cursor = page.page?.nextCursor ?? "";
      } while (cursor !== "");
      return { all, readCount };
    };

    // Five read up to m1 only (alternating nodes).
    const started = Date.now();
    await Promise.all(
      readers
        .slice(0, 5)
        .map((u, i) => groups(u, nodeOf(i)).markGroupRead({ groupId, readSeq: m1.seq })),
    );
    expect(await list(ReaderFilter.READ)).toEqual({
      all: readers.slice(0, 5).sort(),
      readCount: 5,
    });
    expect(await list(ReaderFilter.UNREAD)).toEqual({
      all: readers.slice(5).sort(),
      readCount: 5,
    });
    // Everyone reads everything; some twice.
    await Promise.all(
      [...readers, ...readers.slice(0, 3)].map((u, i) =>
        groups(u, nodeOf(i)).markGroupRead({ groupId }),
      ),
    );
    const counts = await receipts(owner as string).getGroupReceipts({
      groupId,
      seqs: [m1.seq, m2.seq, m3.seq, 999n],
    });
    expect(counts.receipts.map((r) => [r.seq, r.messageKey, r.readCount])).toEqual([
      [m1.seq, m1.messageKey, 11],
      [m3.seq, m3.messageKey, 11],
    ]);
    expect(await list(ReaderFilter.READ, m3.seq)).toEqual({
      all: [...readers].sort(),
      readCount: 11,
    });
    expect(await list(ReaderFilter.UNREAD, m3.seq, 100)).toEqual({ all: [], readCount: 11 });

    // The sender hears the counts, coalesced: at most one event per message per window per node.
    await eventually(async () => {
      expect(Math.max(...groupReceipts(ownerDevice, m1.messageKey))).toBe(11);
      expect(Math.max(...groupReceipts(ownerDevice, m3.messageKey))).toBe(11);
    });
    const windows = Math.ceil((Date.now() - started) / WINDOW_MS) + 1;
    for (const key of [m1.messageKey, m3.messageKey]) {
      const events = groupReceipts(ownerDevice, key);
      expect(events.length).toBeLessThanOrEqual(Math.min(windows * nodes, 16));
      expect(events.every((c) => c >= 1 && c <= 11)).toBe(true);
    }
    expect(groupReceipts(ownerDevice, m2.messageKey)).toEqual([]);

    // Only the sender (or an app admin) sees a message's receipts.
    const f = await failureOf(
      receipts(readers[0] as string).listGroupReaders({ groupId, seq: m1.seq }),
    );
    expect([f.code, f.reason]).toEqual([Code.NotFound, ErrorReason.RECEIPT_NOT_FOUND]);
    expect(
      (await receipts(readers[0] as string).getGroupReceipts({ groupId, seqs: [m1.seq] })).receipts,
    ).toEqual([]);
    expect((await receipts(ADMIN).listGroupReaders({ groupId, seq: m1.seq })).readCount).toBe(11);
    const noReceipts = await failureOf(
      receipts(owner as string).listGroupReaders({ groupId, seq: m2.seq }),
    );
    expect(noReceipts.reason).toBe(ErrorReason.RECEIPT_NOT_FOUND);
  });

  it("group: a disbanded group's reads do not carry over to a new group with its id", async () => {
    const [owner, bob] = await users(2);
    const groupId = await newGroup(owner, [bob]);
    const send = () =>
      groups(owner).sendGroupMessage({ groupId, body: [text("hi")], needReadReceipt: true });
    const first = await send();
    await groups(bob).markGroupRead({ groupId });
    const count = async (seq: bigint) =>
      (await receipts(owner).getGroupReceipts({ groupId, seqs: [seq] })).receipts[0]?.readCount;
    expect(await count(first.seq)).toBe(1);
    await groups(owner).disbandGroup({ groupId });
    await groups(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "again",
      groupId,
      memberUserIds: [bob],
    });
    const again = await send();
    expect(again.messageKey).toBe(first.messageKey);
    expect(await count(again.seq)).toBe(0);
  });

  it("recall vs read: a recalled message's receipts are gone, whichever comes first", async () => {
    const [alice, ...members] = (await users(7)) as [string, ...string[]];
    const groupId = await newGroup(alice, members);
    // Read in the same calls, not recalled: counted.
    const kept = await groups(alice).sendGroupMessage({
      groupId,
      body: [text("kept")],
      needReadReceipt: true,
    });
    const m = await groups(alice).sendGroupMessage({
      groupId,
      body: [text("oops")],
      needReadReceipt: true,
    });
    const lifecycle = clientAs(MessageLifecycleService, b.baseUrl, alice);
    await Promise.all([
      lifecycle.recallMessage({
        conversationType: ConversationType.GROUP,
        conversationId: groupId,
        seq: m.seq,
      }),
      ...members
        .slice(0, 4)
        .map((u, i) => groups(u, nodeOf(i)).markGroupRead({ groupId, readSeq: m.seq })),
    ]);
    // Later readers read nothing of it either; their read state moves all the same.
    for (const u of members.slice(4)) {
      expect((await groups(u).markGroupRead({ groupId })).readSeq).toBe(m.seq);
    }
    const f = await failureOf(receipts(alice).listGroupReaders({ groupId, seq: m.seq }));
    expect(f.reason).toBe(ErrorReason.RECEIPT_NOT_FOUND);
    const counted = await receipts(alice).getGroupReceipts({ groupId, seqs: [kept.seq, m.seq] });
    expect(counted.receipts.map((r) => [r.seq, r.readCount])).toEqual([[kept.seq, members.length]]);

    // One-to-one: a recall racing the reader's sync and read. The delivered
    // watermark (written by receipts alone) covers the recalled message.
    const [bob] = members as [string];
    const sent = await messages(alice).sendMessage({ toUserId: bob, body: [text("hm")] });
    await Promise.all([
      lifecycle.recallMessage({
        conversationType: ConversationType.C2C,
        conversationId: sent.conversationId,
        seq: sent.seq,
      }),
      messages(bob, b).syncMessages({ peerUserId: alice }),
      messages(bob, b).markRead({ peerUserId: alice, readSeq: sent.seq }),
    ]);
    const marks = await receipts(alice).getC2CReceipts({ peerUserId: bob });
    expect(marks.peerDeliveredSeq).toBe(sent.seq);
    // The read watermark is the conversation entry's read seq, which the recall's
    // fan-out also writes: on FerretDB two processes' updates of one document can
    // lose one (README "Known limits"), so it is checked where updates are atomic.
    if (nodes === 1) {
      expect(marks.peerReadSeq).toBe(sent.seq);
      const [conv] = (await messages(bob).listConversations({})).conversations;
      expect(conv?.unreadCount).toBe(0);
    }
  });
});
