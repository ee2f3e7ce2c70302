import http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { type ApplyJoinOption, GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import {
  type CheckType,
  type RelationDirection,
  RelationService,
} from "../../src/gen/im/v1/relation_pb.js";
import { clientAs, failureOf, PROTOCOLS, sigFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import { rawCall, type Wire } from "./raw-call.js";

const SYNC = "/im.v1.MessageService/SyncMessages";
const SEND = "/im.v1.MessageService/SendMessage";
const bytes = (...parts: (number[] | Uint8Array)[]) =>
  Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));

/** Client mistakes are InvalidArgument with the field named, never Internal (issue 11, item 7). */
describe("client mistakes are answered as such", () => {
  let app: TestApp;
  let session: http2.ClientHttp2Session;
  const [alice, bob, carol] = ["cm_alice", "cm_bob", "cm_carol"];

  beforeAll(async () => {
    app = await startTestApp();
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: alice }, { userId: bob }, { userId: carol }],
    });
    await clientAs(MessageService, app.baseUrl, alice).sendMessage({
      toUserId: bob,
      body: [text("before")],
    });
    session = http2.connect(app.baseUrl);
  });
  afterAll(async () => {
    session.close();
    await app.close();
  });

  const binaryWires: Wire[] = ["connect-proto", "grpc", "grpc-web", "connect-stream"];

  it.each(binaryWires.filter((w) => w !== "connect-stream"))(
    "invalid UTF-8 in a string field over %s is InvalidArgument naming the field",
    async (wire) => {
      // SyncMessagesRequest.peer_user_id (field 1) = 0xff 0xfe
      const out = await rawCall(session, {
        path: SYNC,
        wire,
        body: bytes([0x0a, 0x02, 0xff, 0xfe]),
        sig: sigFor(alice),
      });
      expect(out.code).toBe(Code.InvalidArgument);
      expect(out.reason).toBe(ErrorReason.MALFORMED_REQUEST);
      expect(out.field).toBe("peer_user_id");
    },
  );

  it("names a nested field: invalid UTF-8 in body[1].text.text", async () => {
    const textEl = (payload: number[]) => [
      0x0a,
      payload.length + 2,
      0x0a,
      payload.length,
      ...payload,
    ];
    const el = (inner: number[]) => [0x12, inner.length, ...inner];
    const body = bytes(
      [0x0a, 0x06, ...utf8("cm_bob")],
      el(textEl(utf8("ok"))),
      el(textEl([0x61, 0xc3, 0x28])),
    );
    const out = await rawCall(session, { path: SEND, wire: "grpc", body, sig: sigFor(alice) });
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.field).toBe("body[1].text.text");
  });

  it("a recursion-depth overflow (deeply nested unknown groups) is InvalidArgument", async () => {
    const start = [0x9b, 0x06]; // field 99, start group
    const end = [0x9c, 0x06]; // field 99, end group
    const body = bytes(Array(200).fill(start).flat(), Array(200).fill(end).flat());
    for (const wire of ["connect-proto", "grpc"] as const) {
      const out = await rawCall(session, { path: SYNC, wire, body, sig: sigFor(alice) });
      expect(out.code).toBe(Code.InvalidArgument);
      expect(out.reason).toBe(ErrorReason.MALFORMED_REQUEST);
    }
  });

  it("deeply nested messages (relay in relay) are InvalidArgument naming where", async () => {
    // MessageElement.relay (field 9?) is found from the descriptor, not hard-coded.
    const { MessageElementSchema, RelayElementSchema, RelayedMessageSchema } = await import(
      "../../src/gen/im/v1/elements_pb.js"
    );
    const relayNo = MessageElementSchema.fields.find((f) => f.name === "relay")?.number ?? 0;
    const messagesNo = RelayElementSchema.fields.find((f) => f.name === "messages")?.number ?? 0;
    const bodyNo = RelayedMessageSchema.fields.find((f) => f.name === "body")?.number ?? 0;
    const tag = (no: number) => varint((no << 3) | 2);
    let el: number[] = [];
    for (let i = 0; i < 120; i++) {
      const relayed = [...tag(bodyNo), ...varint(el.length), ...el];
      const relay = [...tag(messagesNo), ...varint(relayed.length), ...relayed];
      el = [...tag(relayNo), ...varint(relay.length), ...relay];
    }
    const body = bytes([0x0a, 0x06, ...utf8("cm_bob")], [0x12, ...varint(el.length)], el);
    const out = await rawCall(session, {
      path: SEND,
      wire: "connect-proto",
      body,
      sig: sigFor(alice),
    });
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.reason).toBe(ErrorReason.MALFORMED_REQUEST);
    expect(out.field).toMatch(/^body\[0\]\.relay\.messages\[0\]\.body\[0\]/);
  });

  it.each(PROTOCOLS)(
    "after_seq = 2^64-1 over %s is InvalidArgument naming after_seq",
    async (p) => {
      const failure = await failureOf(
        clientAs(MessageService, app.baseUrl, alice, p).syncMessages({
          peerUserId: bob,
          afterSeq: 2n ** 64n - 1n,
        }),
      );
      expect(failure.code).toBe(Code.InvalidArgument);
      expect(failure.field).toBe("after_seq");
    },
  );

  it("2^53+1 is refused, never rounded to 2^53", async () => {
    for (const [field, req] of [
      ["after_seq", { afterSeq: 2n ** 53n + 1n }],
      ["up_to_seq", { upToSeq: 2n ** 53n + 1n }],
    ] as const) {
      const failure = await failureOf(
        clientAs(MessageService, app.baseUrl, alice).syncMessages({ peerUserId: bob, ...req }),
      );
      expect(failure.code).toBe(Code.InvalidArgument);
      expect(failure.field).toBe(field);
    }
    const failure = await failureOf(
      clientAs(MessageService, app.baseUrl, alice).markRead({
        peerUserId: bob,
        readSeq: 2n ** 53n + 1n,
      }),
    );
    expect(failure.field).toBe("read_seq");
    // The largest exact value is answered exactly.
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    const reply = await clientAs(MessageService, app.baseUrl, alice).syncMessages({
      peerUserId: bob,
      afterSeq: max,
    });
    expect(reply.coveredUpToSeq).toBe(max);
  });

  it("JSON: an out-of-range uint64 is InvalidArgument naming the field", async () => {
    const out = await rawCall(session, {
      path: SYNC,
      wire: "connect-json",
      body: new TextEncoder().encode(`{"peerUserId":"${bob}","afterSeq":"18446744073709551616"}`),
      sig: sigFor(alice),
    });
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.reason).toBe(ErrorReason.MALFORMED_REQUEST);
    expect(out.field).toBe("after_seq");
  });

  it('JSON: "GENDER_BOGUS" is InvalidArgument naming gender, not dropped', async () => {
    const out = await rawCall(session, {
      path: "/im.v1.ProfileService/SetProfile",
      wire: "connect-json",
      body: new TextEncoder().encode('{"profile":{"gender":"GENDER_BOGUS"}}'),
      sig: sigFor(alice),
    });
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.reason).toBe(ErrorReason.MALFORMED_REQUEST);
    expect(out.field).toBe("profile.gender");
  });

  it("an error quotes at most a short prefix of client input", async () => {
    const key = "k".repeat(10_000);
    const out = await rawCall(session, {
      path: SYNC,
      wire: "connect-json",
      body: new TextEncoder().encode(`{"${key}":1}`),
      sig: sigFor(alice),
    });
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.message.length).toBeLessThan(300);
    expect(out.field.length).toBeLessThanOrEqual(101);
  });

  it("history sent before all this is intact", async () => {
    const reply = await clientAs(MessageService, app.baseUrl, bob).syncMessages({
      peerUserId: alice,
    });
    expect(reply.messages.map((m) => m.body[0]?.element.value)).toEqual([
      expect.objectContaining({ text: "before" }),
    ]);
  });
});

/** The same rule everywhere (issue 11, item 9). */
describe("consistent validation", () => {
  let app: TestApp;
  const [alice, bob] = ["cv_alice", "cv_bob"];

  beforeAll(async () => {
    app = await startTestApp();
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: alice }, { userId: bob }],
    });
  });
  afterAll(() => app.close());

  it("an unknown AddFriend.direction is InvalidArgument naming direction", async () => {
    const failure = await failureOf(
      clientAs(RelationService, app.baseUrl, alice).addFriend({
        toUserId: bob,
        direction: 7 as RelationDirection,
      }),
    );
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.field).toBe("direction");
  });

  it("an unknown CheckFriends.check_type is InvalidArgument naming check_type", async () => {
    for (const call of [
      (c: ReturnType<typeof relations>) =>
        c.checkFriends({ userIds: [bob], checkType: 9 as CheckType }),
      (c: ReturnType<typeof relations>) =>
        c.checkBlocklist({ userIds: [bob], checkType: 9 as CheckType }),
    ]) {
      const failure = await failureOf(call(relations(alice)));
      expect(failure.code).toBe(Code.InvalidArgument);
      expect(failure.field).toBe("check_type");
    }
  });
  const relations = (user: string) => clientAs(RelationService, app.baseUrl, user);

  it("an unknown enum in a group request is refused the same way", async () => {
    const failure = await failureOf(
      clientAs(GroupService, app.baseUrl, alice).createGroup({
        type: GroupType.PUBLIC,
        name: "g",
        applyJoinOption: 42 as ApplyJoinOption,
      }),
    );
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.field).toBe("apply_join_option");
  });

  it("ListJoinedGroups.user_id of someone else is PermissionDenied for a non-admin", async () => {
    const failure = await failureOf(
      clientAs(GroupService, app.baseUrl, alice).listJoinedGroups({ userId: bob }),
    );
    expect(failure.code).toBe(Code.PermissionDenied);
    expect(failure.reason).toBe(ErrorReason.ADMIN_REQUIRED);
    expect(failure.field).toBe("user_id");
    // Their own id, or none, is fine.
    await clientAs(GroupService, app.baseUrl, alice).listJoinedGroups({ userId: alice });
  });

  it("a Work group's mute and role RPCs tell a non-member only that they are not a member", async () => {
    const owner = clientAs(GroupService, app.baseUrl, alice);
    const { group } = await owner.createGroup({ type: GroupType.WORK, name: "work" });
    const groupId = group?.groupId ?? "";
    const outsider = clientAs(GroupService, app.baseUrl, bob);
    for (const call of [
      outsider.muteGroupMembers({ groupId, userIds: [alice], muteSeconds: 60 }),
      outsider.setGroupMemberRole({ groupId, userId: alice, role: 2 }),
    ]) {
      const failure = await failureOf(call);
      expect(failure.code).toBe(Code.PermissionDenied);
      expect(failure.reason).toBe(ErrorReason.NOT_GROUP_MEMBER);
    }
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
