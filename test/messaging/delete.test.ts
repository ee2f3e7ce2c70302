import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import type { SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import type { OpenStream } from "../support/streams.js";
import { ADMIN, type TestApp } from "../support/test-app.js";
import { nodePairKit } from "./node-pair-kit.js";

const C2C = ConversationType.C2C;
const GROUP = ConversationType.GROUP;

/** The `deleted` event of (conversation, seq) on a stream, once it arrives. */
const deletedOn = (s: OpenStream, conversationId: string, seq: bigint) =>
  s.waitFor(
    (e) =>
      e.event.case === "deleted" &&
      e.event.value.conversationId === conversationId &&
      e.event.value.seq === seq,
    15_000,
  );
const deletedEvents = (s: OpenStream) =>
  s.events.flatMap((e: SubscribeResponse) => (e.event.case === "deleted" ? [e.event.value] : []));
/** The `deleted_for_me` event showing these marks, once it arrives. */
const deletedForMeOn = (s: OpenStream, conversationId: string, cleared: bigint, seqs: bigint[]) =>
  s.waitFor((e) => {
    if (e.event.case !== "deletedForMe" || e.event.value.conversationId !== conversationId) {
      return false;
    }
    const marks = e.event.value.deletedForMe;
    return marks?.clearedUpToSeq === cleared && marks.seqs.join() === seqs.join();
  }, 15_000);
const seqsOf = (messages: { seq: bigint }[]) => messages.map((m) => m.seq);

/**
 * Delete for everyone (app admins) and for oneself, end to end through real
 * streams, on the embedded default (one node) and on FerretDB + nats-server
 * with two nodes: deletes are taken on one node, devices listen on the other.
 */
describe.each([
  ["memory + in-process bus", () => ({}), 1],
  [
    "FerretDB + nats-server, two nodes",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("delete"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("delete"),
    }),
    2,
  ],
] as const)("delete on %s", (_name, env, nodes) => {
  let a: TestApp;
  let b: TestApp;
  const kit = nodePairKit("d");
  const { users, stream, uniqueId } = kit;
  const lifecycle = (userId: string, app = a) =>
    clientAs(MessageLifecycleService, app.baseUrl, userId);
  const messages = (userId: string, app = b) => clientAs(MessageService, app.baseUrl, userId);
  const groups = (userId: string, app = a) => clientAs(GroupService, app.baseUrl, userId);
  const deleteFor = (
    userId: string,
    conversationType: ConversationType,
    conversationId: string,
    seqs: bigint[],
  ) => lifecycle(userId).deleteMessages({ conversationType, conversationId, seqs });
  const deleteForMe = (
    userId: string,
    conversationType: ConversationType,
    conversationId: string,
    seqs: bigint[],
  ) => lifecycle(userId).deleteMessagesForMe({ conversationType, conversationId, seqs });
  const clear = (
    userId: string,
    conversationType: ConversationType,
    conversationId: string,
    upToSeq = 0n,
  ) => lifecycle(userId).clearConversation({ conversationType, conversationId, upToSeq });
  const conversationOf = async (owner: string) =>
    (await messages(owner).listConversations({})).conversations[0];
  const sendC2c = (from: string, to: string, said: string) =>
    messages(from, a).sendMessage({ toUserId: to, body: [text(said)] });
  const newGroup = async (owner: string, members: string[]) => {
    const groupId = uniqueId("dg");
    await groups(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      memberUserIds: members,
    });
    return groupId;
  };
  const joined = async (userId: string, groupId: string) =>
    (await groups(userId, b).listJoinedGroups({})).groups.find((g) => g.group?.groupId === groupId);

  beforeAll(async () => {
    const settings = { ...env(), DELETE_BATCH_MAX: "4", DELETED_FOR_ME_MAX: "3" };
    ({ a, b } = await kit.start(settings, nodes));
  });
  afterAll(() => kit.close());

  it("one-to-one, for everyone: an app admin's batch becomes tombstones everywhere; the list and unread follow; repeats change nothing", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    const aliceDevice = await stream(alice);
    const first = await sendC2c(alice, bob, "bad");
    const kept = await sendC2c(alice, bob, "kept");
    const last = await sendC2c(alice, bob, "worse");
    const conv = last.conversationId;
    await bobDevice.waitForMessages(3);
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect([c?.lastMessage?.seq, c?.unreadCount]).toEqual([last.seq, 3]);
    });

    const done = await deleteFor(ADMIN, C2C, conv, [last.seq, first.seq, last.seq]);
    expect([done.deletedSeqs, done.alreadyDeletedSeqs]).toEqual([[first.seq, last.seq], []]);
    for (const s of [bobDevice, aliceDevice]) {
      const e = await deletedOn(s, conv, last.seq);
      expect(e.event.value).toMatchObject({
        conversationType: C2C,
        messageKey: last.messageKey,
        fromUserId: alice,
        deletion: { recalledByUserId: ADMIN, deletedForEveryone: true },
      });
      await deletedOn(s, conv, first.seq);
    }
    // A delete is not a recall: no `recalled` event.
    expect(bobDevice.events.some((e) => e.event.case === "recalled")).toBe(false);

    // Tombstones in place (no gap), content gone, for both users.
    for (const owner of [alice, bob]) {
      const peer = owner === alice ? bob : alice;
      const synced = (await messages(owner).syncMessages({ peerUserId: peer })).messages;
      expect(
        synced.map((m) => [m.seq, m.recall?.deletedForEveryone ?? false, m.body.length]),
      ).toEqual([
        [first.seq, true, 0],
        [kept.seq, false, 1],
        [last.seq, true, 0],
      ]);
    }
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect([c?.lastMessage?.seq, c?.lastMessage?.recall?.deletedForEveryone]).toEqual([
        last.seq,
        true,
      ]);
      expect(c?.lastMessage?.body).toEqual([]);
      expect(c?.unreadCount).toBe(1);
    });

    // Idempotent: nothing stored or told again.
    const again = await deleteFor(ADMIN, C2C, conv, [first.seq, last.seq]);
    expect([again.deletedSeqs, again.alreadyDeletedSeqs]).toEqual([[], [first.seq, last.seq]]);
    await deleteFor(ADMIN, C2C, conv, [kept.seq]);
    await deletedOn(bobDevice, conv, kept.seq);
    expect(deletedEvents(bobDevice).filter((e) => e.seq === last.seq)).toHaveLength(1);
    await eventually(async () => expect((await conversationOf(bob))?.unreadCount).toBe(0));
  });

  it("for everyone: app admins only; all seqs checked before anything changes; batch and seq limits", async () => {
    const [alice, bob, carol] = await users(3);
    const sent = await sendC2c(alice, bob, "hi");
    const conv = sent.conversationId;
    for (const who of [alice, bob]) {
      const refused = await failureOf(deleteFor(who, C2C, conv, [sent.seq]));
      expect([refused.code, refused.reason]).toEqual([
        Code.PermissionDenied,
        ErrorReason.DELETE_NOT_ALLOWED,
      ]);
    }
    const missing = await failureOf(deleteFor(ADMIN, C2C, conv, [sent.seq, sent.seq + 9n]));
    expect([missing.code, missing.reason, missing.field]).toEqual([
      Code.NotFound,
      ErrorReason.MESSAGE_NOT_FOUND,
      "seqs",
    ]);
    expect(missing.err.rawMessage).toContain(`seq ${sent.seq + 9n}`);
    const tooMany = await failureOf(deleteFor(ADMIN, C2C, conv, [1n, 2n, 3n, 4n, 5n]));
    expect([tooMany.code, tooMany.reason]).toEqual([
      Code.InvalidArgument,
      ErrorReason.TOO_MANY_ITEMS,
    ]);
    const none = await failureOf(deleteFor(ADMIN, C2C, conv, []));
    expect([none.reason, none.field]).toEqual([ErrorReason.INVALID_FIELD, "seqs"]);
    const zero = await failureOf(deleteFor(ADMIN, C2C, conv, [0n]));
    expect([zero.reason, zero.field]).toEqual([ErrorReason.INVALID_FIELD, "seqs[0]"]);
    const noType = await failureOf(
      lifecycle(ADMIN).deleteMessages({ conversationId: conv, seqs: [sent.seq] }),
    );
    expect(noType.field).toBe("conversation_type");
    // Nothing changed by the refused calls.
    const [m] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect([m?.recall, m?.body.length]).toEqual([undefined, 1]);

    // Groups: the owner may recall, not delete; tips are never deleted.
    const groupId = await newGroup(carol, [alice]);
    const msg = await groups(alice).sendGroupMessage({ groupId, body: [text("x")] });
    const byOwner = await failureOf(deleteFor(carol, GROUP, groupId, [msg.seq]));
    expect(byOwner.reason).toBe(ErrorReason.DELETE_NOT_ALLOWED);
    await groups(ADMIN).addGroupMembers({ groupId, userIds: [bob] });
    const tipSeq = msg.seq + 1n;
    // The join tip is stored in the background.
    await eventually(async () => {
      const synced = (await groups(alice).syncGroupMessages({ groupId })).messages;
      expect(synced.map((g) => g.seq)).toContain(tipSeq);
    });
    const tip = await failureOf(deleteFor(ADMIN, GROUP, groupId, [msg.seq, tipSeq]));
    expect(tip.reason).toBe(ErrorReason.MESSAGE_NOT_RECALLABLE);
    const history = (await groups(alice).syncGroupMessages({ groupId })).messages;
    expect(history.find((g) => g.seq === msg.seq)?.recall).toBeUndefined();
  });

  it("group, for everyone: members' devices are told, history holds tombstones, unread and mentions drop", async () => {
    const [owner, bob, carol] = await users(3);
    const groupId = await newGroup(owner, [bob, carol]);
    const carolDevice = await stream(carol);
    const spam = await groups(bob).sendGroupMessage({
      groupId,
      body: [text("spam @carol")],
      atUserIds: [carol],
    });
    const fine = await groups(bob).sendGroupMessage({ groupId, body: [text("fine")] });
    await eventually(async () => {
      const g = await joined(carol, groupId);
      expect([g?.unreadCount, g?.mentionedMe]).toEqual([2, true]);
    });

    const done = await deleteFor(ADMIN, GROUP, groupId, [spam.seq]);
    expect(done.deletedSeqs).toEqual([spam.seq]);
    const e = await deletedOn(carolDevice, groupId, spam.seq);
    expect(e.event.value).toMatchObject({
      conversationType: GROUP,
      fromUserId: bob,
      deletion: { recalledByUserId: ADMIN, deletedForEveryone: true },
    });
    const synced = (await groups(carol, b).syncGroupMessages({ groupId })).messages;
    const tombstone = synced.find((m) => m.seq === spam.seq);
    expect([tombstone?.body, tombstone?.recall?.deletedForEveryone]).toEqual([[], true]);
    expect(synced.find((m) => m.seq === fine.seq)?.body).toHaveLength(1);
    const g = await joined(carol, groupId);
    expect([g?.unreadCount, g?.mentionedMe]).toEqual([1, false]);
  });

  it("one-to-one, for me: deleting the last message lists the one before that updates lists, not a no_last_message one", async () => {
    const [alice, bob] = await users(2);
    const listed = await sendC2c(alice, bob, "listed");
    await messages(alice, a).sendMessage({
      toUserId: bob,
      body: [text("silent")],
      options: { noLastMessage: true },
    });
    const last = await sendC2c(alice, bob, "last");
    await deleteForMe(bob, C2C, last.conversationId, [last.seq]);
    expect((await conversationOf(bob))?.lastMessage?.seq).toBe(listed.seq);
  });

  it("one-to-one, for me: only my history, sync, list and unread change; my devices are told; clear hides all up to now", async () => {
    const [alice, bob, carol] = await users(3);
    const bobDevice = await stream(bob);
    const s1 = await sendC2c(alice, bob, "one");
    const s2 = await sendC2c(alice, bob, "two");
    const s3 = await sendC2c(alice, bob, "three");
    const conv = s3.conversationId;
    await eventually(async () => expect((await conversationOf(bob))?.unreadCount).toBe(3));

    const mine = await deleteForMe(bob, C2C, conv, [s2.seq]);
    expect(mine.deletedForMe).toMatchObject({ clearedUpToSeq: 0n, seqs: [s2.seq] });
    await deletedForMeOn(bobDevice, conv, 0n, [s2.seq]);
    expect(seqsOf((await messages(bob).syncMessages({ peerUserId: alice })).messages)).toEqual([
      s1.seq,
      s3.seq,
    ]);
    expect(seqsOf((await messages(bob).listMessages({ peerUserId: alice })).messages)).toEqual([
      s3.seq,
      s1.seq,
    ]);
    expect((await conversationOf(bob))?.unreadCount).toBe(2);
    // Alice sees everything still.
    expect(seqsOf((await messages(alice).syncMessages({ peerUserId: bob })).messages)).toEqual([
      s1.seq,
      s2.seq,
      s3.seq,
    ]);

    // Deleting the last message: bob's list shows the one before; alice's keeps it.
    await deleteForMe(bob, C2C, conv, [s3.seq, s2.seq]);
    const bobs = await conversationOf(bob);
    expect([bobs?.lastMessage?.seq, bobs?.unreadCount]).toEqual([s1.seq, 1]);
    // Bob's deletes are his alone: alice's list still ends with the third.
    expect((await conversationOf(alice))?.lastMessage?.seq).toBe(s3.seq);
    // Paging goes past a page that held only deleted messages.
    const page1 = await messages(bob).listMessages({ peerUserId: alice, page: { pageSize: 2 } });
    expect([page1.messages, page1.page?.nextCursor !== ""]).toEqual([[], true]);
    const page2 = await messages(bob).listMessages({
      peerUserId: alice,
      page: { pageSize: 2, cursor: page1.page?.nextCursor ?? "" },
    });
    expect(seqsOf(page2.messages)).toEqual([s1.seq]);

    // Limits and standing.
    const full = await failureOf(deleteForMe(bob, C2C, conv, [s1.seq, s1.seq + 3n]));
    expect(full.code).toBe(Code.InvalidArgument); // above the latest seq
    const outsider = await failureOf(deleteForMe(carol, C2C, conv, [s1.seq]));
    expect(outsider.reason).toBe(ErrorReason.MESSAGE_NOT_FOUND);
    const s4 = await sendC2c(alice, bob, "four");
    const capped = await failureOf(deleteForMe(bob, C2C, conv, [s1.seq, s4.seq]));
    expect([capped.code, capped.reason]).toEqual([
      Code.ResourceExhausted,
      ErrorReason.DELETED_FOR_ME_FULL,
    ]);

    // Clear: everything up to the latest hidden, the marks folded into one.
    const cleared = await clear(bob, C2C, conv);
    expect(cleared.deletedForMe).toMatchObject({ clearedUpToSeq: s4.seq, seqs: [] });
    await deletedForMeOn(bobDevice, conv, s4.seq, []);
    expect((await messages(bob).syncMessages({ peerUserId: alice })).messages).toEqual([]);
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect([c?.lastMessage, c?.unreadCount]).toEqual([undefined, 0]);
    });
    // Later messages show as usual; a lower clear changes nothing.
    const s5 = await sendC2c(alice, bob, "five");
    expect((await clear(bob, C2C, conv, 1n)).deletedForMe?.clearedUpToSeq).toBe(s4.seq);
    expect(seqsOf((await messages(bob).syncMessages({ peerUserId: alice })).messages)).toEqual([
      s5.seq,
    ]);
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect([c?.lastMessage?.seq, c?.unreadCount]).toEqual([s5.seq, 1]);
    });
    expect((await messages(alice).syncMessages({ peerUserId: bob })).messages).toHaveLength(5);
  });

  it("group, for me: a member's history, unread and mentions only; non-members refused", async () => {
    const [owner, bob, carol, stranger] = await users(4);
    const groupId = await newGroup(owner, [bob, carol]);
    const carolDevice = await stream(carol);
    const m1 = await groups(bob).sendGroupMessage({
      groupId,
      body: [text("hey @carol")],
      atUserIds: [carol],
    });
    const m2 = await groups(bob).sendGroupMessage({ groupId, body: [text("two")] });
    await eventually(async () => {
      const g = await joined(carol, groupId);
      expect([g?.unreadCount, g?.mentionedMe]).toEqual([2, true]);
    });

    await deleteForMe(carol, GROUP, groupId, [m1.seq]);
    await deletedForMeOn(carolDevice, groupId, 0n, [m1.seq]);
    const carols = await joined(carol, groupId);
    expect([carols?.unreadCount, carols?.mentionedMe]).toEqual([1, false]);
    const history = (await groups(carol, b).listGroupMessages({ groupId })).messages;
    expect(history.map((m) => m.seq)).not.toContain(m1.seq);
    expect(history.map((m) => m.seq)).toContain(m2.seq);
    // Others are unaffected.
    const owners = (await groups(owner, b).syncGroupMessages({ groupId })).messages;
    expect(owners.map((m) => m.seq)).toContain(m1.seq);
    expect((await joined(owner, groupId))?.unreadCount).toBe(2);

    await clear(carol, GROUP, groupId);
    expect((await groups(carol, b).syncGroupMessages({ groupId })).messages).toEqual([]);
    expect((await joined(carol, groupId))?.unreadCount).toBe(0);
    const refused = await failureOf(deleteForMe(stranger, GROUP, groupId, [m1.seq]));
    expect(refused.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
    const admin = await failureOf(clear(ADMIN, GROUP, groupId));
    expect(admin.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
  });

  it("delete vs read: racing a MarkRead leaves tombstones and an unread count that never goes negative", async () => {
    const [alice, bob] = await users(2);
    const sent = [];
    for (const said of ["a", "b", "c"]) sent.push(await sendC2c(alice, bob, said));
    const [, second, third] = sent;
    const conv = third!.conversationId;
    const [read] = await Promise.all([
      messages(bob).markRead({ peerUserId: alice, readSeq: second!.seq }),
      deleteFor(ADMIN, C2C, conv, [second!.seq, third!.seq]),
      deleteForMe(bob, C2C, conv, [third!.seq]),
    ]);
    expect(read.readSeq).toBe(second!.seq);
    // uint32 on the wire: ">= 0" holds always; a count gone negative shows as a huge one.
    // At most the third is unread after reading up to the second.
    expect(read.unreadCount).toBeLessThanOrEqual(1);
    // Marked again: on FerretDB a read can be lost to a conversation-list write
    // of another process racing it (see the recall test of the same race).
    await messages(bob).markRead({ peerUserId: alice, readSeq: second!.seq });
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect(c?.unreadCount).toBe(0);
      expect(c?.lastMessage?.seq).toBe(second!.seq);
      expect(c?.lastMessage?.recall?.deletedForEveryone).toBe(true);
    });
    const after = await messages(bob).markRead({ peerUserId: alice, readSeq: 0n });
    expect([after.readSeq, after.unreadCount]).toEqual([third!.seq, 0]);
  });

  it("deletes a message still in fan-out: devices end with the delete, sync with the tombstone", async () => {
    const [alice, bob] = await users(2);
    const bobDevice = await stream(bob);
    // No wait between the ack and the delete: the message's own fan-out may
    // not have run yet on either node.
    const sent = await sendC2c(alice, bob, "fast");
    await deleteFor(ADMIN, C2C, sent.conversationId, [sent.seq]);
    await deletedOn(bobDevice, sent.conversationId, sent.seq);
    const [m] = (await messages(bob).syncMessages({ peerUserId: alice })).messages;
    expect([m?.seq, m?.body, m?.recall?.deletedForEveryone]).toEqual([sent.seq, [], true]);
    await eventually(async () => {
      const c = await conversationOf(bob);
      expect([c?.lastMessage?.recall?.deletedForEveryone, c?.unreadCount]).toEqual([true, 0]);
    });
  });
});
