import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { clientAs, failureOf } from "../support/clients.js";
import { ADMIN } from "../support/test-app.js";
import { BACKENDS, type Harness, openLive, settle, startHarness } from "./harness.js";

const hello = [
  create(MessageElementSchema, { element: { case: "text", value: { text: "hello" } } }),
];

describe.each(BACKENDS)("one-to-one permission policy on %s", (_backend, env) => {
  const send = (h: Harness, from: string, to: string) =>
    clientAs(MessageService, h.app.baseUrl, from).sendMessage({ toUserId: to, body: hello });
  const adminSendAs = (h: Harness, from: string, to: string) =>
    clientAs(MessageService, h.app.baseUrl, ADMIN).sendMessage({
      fromUserId: from,
      toUserId: to,
      body: hello,
    });
  const twoWay = async (h: Harness, a: string, b: string) => {
    await h.adminRelations.importFriends({ userId: a, friends: [{ userId: b }] });
    await h.adminRelations.importFriends({ userId: b, friends: [{ userId: a }] });
  };

  describe("by default (strangers may talk; blocked senders are refused)", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(env());
    });
    afterAll(() => h.app.close());

    it("delivers between strangers", async () => {
      const [a, b] = await h.users(2);
      const sb = await openLive(h.app.baseUrl, b!);
      try {
        expect((await send(h, a!, b!)).seq).toBeGreaterThan(0n);
        await sb.waitFor("message");
      } finally {
        sb.close();
      }
    });

    it("refuses a sender the recipient blocked with SENDER_BLOCKED, only in that direction", async () => {
      const [a, b] = await h.users(2);
      await h.relations(b!).addToBlocklist({ userIds: [a!] });
      const f = await failureOf(send(h, a!, b!));
      expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.SENDER_BLOCKED]);
      // The blocker may still write to the blocked user.
      expect((await send(h, b!, a!)).seq).toBeGreaterThan(0n);
      await h.relations(b!).removeFromBlocklist({ userIds: [a!] });
      expect((await send(h, a!, b!)).seq).toBeGreaterThan(0n);
    });

    it("lets admin sends through a blocklist", async () => {
      const [a, b] = await h.users(2);
      await h.relations(b!).addToBlocklist({ userIds: [a!] });
      const sb = await openLive(h.app.baseUrl, b!);
      try {
        expect((await adminSendAs(h, a!, b!)).seq).toBeGreaterThan(0n);
        await sb.waitFor("message");
      } finally {
        sb.close();
      }
    });
  });

  describe("friends only, blocked sends dropped silently", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness({
        ...env(),
        C2C_FRIENDS_ONLY: "true",
        C2C_BLOCKED_SEND: "drop-silently",
      });
    });
    afterAll(() => h.app.close());

    it("delivers between two-way friends only", async () => {
      const [a, b, c] = await h.users(3);
      await twoWay(h, a!, b!);
      expect((await send(h, a!, b!)).seq).toBeGreaterThan(0n);
      let f = await failureOf(send(h, a!, c!));
      expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.NOT_FRIENDS]);
      // One-way is not enough, in either direction.
      await h.adminRelations.importFriends({ userId: a!, friends: [{ userId: c! }] });
      f = await failureOf(send(h, a!, c!));
      expect(f.reason).toBe(ErrorReason.NOT_FRIENDS);
      f = await failureOf(send(h, c!, a!));
      expect(f.reason).toBe(ErrorReason.NOT_FRIENDS);
    });

    it("tells a blocked sender success but delivers and stores nothing", async () => {
      const [a, b] = await h.users(2);
      await twoWay(h, a!, b!);
      // Blocking unfriends; re-import the friendship so only the blocklist decides.
      await h.relations(b!).addToBlocklist({ userIds: [a!] });
      await twoWay(h, a!, b!);
      const sb = await openLive(h.app.baseUrl, b!);
      try {
        const r = await send(h, a!, b!);
        expect(r.seq).toBe(0n);
        await settle();
        expect(sb.all("message")).toEqual([]);
      } finally {
        sb.close();
      }
    });

    it("lets admin sends through friends-only and the blocklist", async () => {
      const [a, b] = await h.users(2);
      await h.relations(b!).addToBlocklist({ userIds: [a!] });
      const sb = await openLive(h.app.baseUrl, b!);
      try {
        expect((await adminSendAs(h, a!, b!)).seq).toBeGreaterThan(0n);
        await sb.waitFor("message");
      } finally {
        sb.close();
      }
    });
  });
});
