import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupMessageKind, GroupRole, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { ConversationType, MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { groupClients, openGroupStream } from "./support.js";

describe.each([
  ["memory + in-process bus", () => ({})],
  [
    "FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("at"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("at"),
    }),
  ],
])("group @mentions on %s", (_name, env) => {
  let app: TestApp;
  let c: Awaited<ReturnType<typeof groupClients>>;
  let n = 0;
  const users = async (count: number) => {
    const ids = Array.from(
      { length: count },
      () => `at${++n}_${Math.random().toString(36).slice(2, 7)}`,
    );
    c = await groupClients(app, ids);
    return ids as [string, string, string, string];
  };
  const joined = async (user: string, groupId: string) =>
    (await c.as(user).listJoinedGroups({})).groups.find((g) => g.group?.groupId === groupId);
  const flags = async (user: string, groupId: string) => {
    const g = await joined(user, groupId);
    return { me: g?.mentionedMe, all: g?.mentionedAll, unread: g?.unreadCount };
  };

  beforeAll(async () => {
    app = await startTestApp(env());
    c = await groupClients(app, []);
  });
  afterAll(() => app?.close());

  it("delivers the mentions and flags the mentioned members' group entries until they read past them", async () => {
    const [owner, admin, bob, carol] = await users(4);
    const groupId = uniqueName("g").slice(0, 40);
    await c.as(owner).createGroup({
      type: GroupType.PUBLIC,
      name: "g",
      groupId,
      memberUserIds: [admin, bob, carol],
    });
    await c.as(owner).setGroupMemberRole({ groupId, userId: admin, role: GroupRole.ADMIN });
    const carolDevice = await openGroupStream(app, carol);

    const first = await c
      .as(bob)
      .sendGroupMessage({ groupId, body: [text("hi carol")], atUserIds: [carol] });
    const live = await carolDevice.waitFor(
      (e) =>
        e.event.case === "groupMessage" &&
        e.event.value.groupId === groupId &&
        e.event.value.kind === GroupMessageKind.NORMAL,
    );
    expect(live.event.value).toMatchObject({ atUserIds: [carol], atAll: false });
    expect(await flags(carol, groupId)).toEqual({ me: true, all: false, unread: 1 });
    expect(await flags(owner, groupId)).toEqual({ me: false, all: false, unread: 1 });
    // The sender is not flagged by their own mention.
    expect(await flags(bob, groupId)).toMatchObject({ me: false, all: false });

    const allHands = await c
      .as(admin)
      .sendGroupMessage({ groupId, body: [text("all hands")], atAll: true });
    expect(await flags(owner, groupId)).toEqual({ me: false, all: true, unread: 2 });
    expect(await flags(carol, groupId)).toEqual({ me: true, all: true, unread: 2 });

    // Reading past the first mention clears "me"; past the second clears "all".
    await c.as(carol).markGroupRead({ groupId, readSeq: first.seq });
    expect(await flags(carol, groupId)).toEqual({ me: false, all: true, unread: 1 });
    await c.as(carol).markGroupRead({ groupId });
    expect(await flags(carol, groupId)).toEqual({ me: false, all: false, unread: 0 });
    // The owner has not read: still flagged, until the mention is recalled.
    expect(await flags(owner, groupId)).toMatchObject({ all: true });
    await clientAs(MessageLifecycleService, app.baseUrl, admin).recallMessage({
      conversationType: ConversationType.GROUP,
      conversationId: groupId,
      seq: allHands.seq,
    });
    expect(await flags(owner, groupId)).toEqual({ me: false, all: false, unread: 1 });
    carolDevice.close();
  });

  it("refuses @all from ordinary members and mentions of non-members; nothing is stored", async () => {
    const [owner, bob, outsider] = await users(3);
    const groupId = uniqueName("g").slice(0, 40);
    await c
      .as(owner)
      .createGroup({ type: GroupType.PUBLIC, name: "g", groupId, memberUserIds: [bob] });
    const all = await failureOf(
      c.as(bob).sendGroupMessage({ groupId, body: [text("everyone!")], atAll: true }),
    );
    expect(all).toMatchObject({
      code: Code.PermissionDenied,
      reason: ErrorReason.AT_ALL_NOT_ALLOWED,
      field: "at_all",
    });
    const stranger = await failureOf(
      c.as(bob).sendGroupMessage({ groupId, body: [text("hey")], atUserIds: [owner, outsider] }),
    );
    expect(stranger).toMatchObject({
      code: Code.InvalidArgument,
      reason: ErrorReason.MENTION_NOT_MEMBER,
      field: "at_user_ids[1]",
    });
    expect((await c.as(owner).syncGroupMessages({ groupId, afterSeq: 0n })).messages).toEqual([]);
    // The owner may mention everyone.
    await c.as(owner).sendGroupMessage({ groupId, body: [text("everyone")], atAll: true });
    expect(await flags(bob, groupId)).toMatchObject({ all: true });
  });
});

describe("group @all by members (GROUP_AT_ALL_BY_MEMBERS)", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ GROUP_AT_ALL_BY_MEMBERS: "true" });
  });
  afterAll(() => app?.close());

  it("lets any member mention everyone", async () => {
    const [owner, bob] = ["atm_owner", "atm_bob"];
    const c = await groupClients(app, [owner, bob]);
    const groupId = "atm-group";
    await c
      .as(owner)
      .createGroup({ type: GroupType.PUBLIC, name: "g", groupId, memberUserIds: [bob] });
    await c.as(bob).sendGroupMessage({ groupId, body: [text("everyone")], atAll: true });
    const g = (await c.as(owner).listJoinedGroups({})).groups[0];
    expect(g).toMatchObject({ mentionedAll: true, mentionedMe: false });
  });
});
