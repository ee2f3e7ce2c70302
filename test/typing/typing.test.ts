import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import type { SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { RelationService } from "../../src/gen/im/v1/relation_pb.js";
import { TypingService, TypingState } from "../../src/gen/im/v1/typing_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

const typingOf = (e: SubscribeResponse) => (e.event.case === "typing" ? e.event.value : undefined);

// Memory: one node takes both users. FerretDB + nats-server: the sender calls
// node A while the peer streams from node B.
describe.each([
  ["memory + in-process bus", () => ({}), 1],
  [
    "two nodes on FerretDB + nats-server",
    () => ({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("typ"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("typ"),
    }),
    2,
  ],
] as const)("typing on %s", (_name, env, nodeCount) => {
  let nodes: TestApp[] = [];
  const senderNode = () => nodes[0] as TestApp;
  const peerNode = () => nodes[nodeCount - 1] as TestApp;
  let n = 0;
  const users = async (count: number) => {
    const ids = Array.from(
      { length: count },
      () => `ty${++n}_${Math.random().toString(36).slice(2, 8)}`,
    );
    await clientAs(AccountService, senderNode().baseUrl, ADMIN).importAccounts({
      accounts: ids.map((userId) => ({ userId })),
    });
    return ids as [string, string];
  };
  const typing = (user: string) => clientAs(TypingService, senderNode().baseUrl, user);

  beforeAll(async () => {
    const config = { ...env(), RATE_LIMIT_TYPING: "5" };
    // Time stands still for both nodes: the rate-limit window never rolls over mid-test.
    const now = Math.floor(Date.now() / 60_000) * 60_000 + 15_000;
    nodes = await Promise.all(
      Array.from({ length: nodeCount }, () => startTestApp(config, { clock: () => now })),
    );
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
  });

  it("reaches every online device of the peer, live only: never stored, never replayed to a later device", async () => {
    const [a, b] = await users(2);
    const phone = await openStream(peerNode().baseUrl, b, `${b}-phone`);
    const laptop = await openStream(peerNode().baseUrl, b, `${b}-laptop`, "grpc");
    await typing(a).sendTyping({ toUserId: b, state: TypingState.TYPING });
    for (const device of [phone, laptop]) {
      const e = typingOf(await device.waitFor((x) => typingOf(x) !== undefined));
      expect(e).toMatchObject({ fromUserId: a, state: TypingState.TYPING });
      expect(Number(e?.timeMs)).toBeGreaterThan(0);
    }
    await typing(a).sendTyping({ toUserId: b, state: TypingState.STOPPED });
    await phone.waitFor((x) => typingOf(x)?.state === TypingState.STOPPED);

    // A device that connects afterwards gets no typing event: the next thing it
    // receives is the message sent after it connected.
    const tablet = await openStream(peerNode().baseUrl, b, `${b}-tablet`);
    await clientAs(MessageService, senderNode().baseUrl, a).sendMessage({
      toUserId: b,
      body: [text("after")],
    });
    await tablet.waitForMessages(1);
    expect(tablet.events.filter((x) => typingOf(x) !== undefined)).toEqual([]);
    // History holds the message only.
    const synced = await clientAs(MessageService, peerNode().baseUrl, b).syncMessages({
      peerUserId: a,
      afterSeq: 0n,
    });
    expect(synced.messages).toHaveLength(1);
    for (const device of [phone, laptop, tablet]) device.close();
  });

  it("refuses a missing state, the caller itself and malformed ids", async () => {
    const [a, b] = await users(2);
    expect(await failureOf(typing(a).sendTyping({ toUserId: b }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "state",
    });
    expect(
      await failureOf(typing(a).sendTyping({ toUserId: a, state: TypingState.TYPING })),
    ).toMatchObject({ reason: ErrorReason.SELF_MESSAGE });
    expect(
      await failureOf(typing(a).sendTyping({ toUserId: "no.dots", state: TypingState.TYPING })),
    ).toMatchObject({ code: Code.InvalidArgument, field: "to_user_id" });
  });

  it("follows the one-to-one send policy: a blocked sender is refused like a message", async () => {
    const [a, b] = await users(2);
    await clientAs(RelationService, senderNode().baseUrl, b).addToBlocklist({ userIds: [a] });
    expect(
      await failureOf(typing(a).sendTyping({ toUserId: b, state: TypingState.TYPING })),
    ).toMatchObject({ code: Code.PermissionDenied, reason: ErrorReason.SENDER_BLOCKED });
  });

  it("is rate-limited per sender, across nodes", async () => {
    const [a, b] = await users(2);
    for (let i = 0; i < 5; i++) {
      const node = nodes[i % nodeCount] as TestApp;
      await clientAs(TypingService, node.baseUrl, a).sendTyping({
        toUserId: b,
        state: TypingState.TYPING,
      });
    }
    const limited = await failureOf(
      clientAs(TypingService, peerNode().baseUrl, a).sendTyping({
        toUserId: b,
        state: TypingState.TYPING,
      }),
    );
    expect(limited).toMatchObject({
      code: Code.ResourceExhausted,
      reason: ErrorReason.RATE_LIMITED,
    });
  });
});
