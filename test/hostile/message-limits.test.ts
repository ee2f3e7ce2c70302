import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

/** Everything a message carries counts toward MESSAGE_MAX_BYTES (issue 11, item 5). */
describe("message size limit covers everything a message carries", () => {
  let app: TestApp;
  const [alice, bob] = ["lim_alice", "lim_bob"];
  const messages = (user: string) => clientAs(MessageService, app.baseUrl, user);

  beforeAll(async () => {
    app = await startTestApp();
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: alice }, { userId: bob }],
    });
  });
  afterAll(() => app.close());

  const storedFor = async (user: string) =>
    (await messages(user).listConversations({})).conversations.length;

  it("refuses a 4-byte text carrying 5 MB of push info, and stores nothing", async () => {
    // 5 MB in all (desc + ext); much more would hit the Node client's own 10 MB
    // HTTP/2 session memory before the server's answer arrives.
    const huge = "x".repeat(2.5 * 1024 * 1024);
    const failure = await failureOf(
      messages(alice).sendMessage({
        toUserId: bob,
        body: [text("hiya")],
        offlinePushInfo: { title: "t", desc: huge, ext: huge },
      }),
    );
    // With the transport's request-size cap the body never reaches validation
    // (ResourceExhausted); without it, validation refuses it as too large.
    expect([Code.InvalidArgument, Code.ResourceExhausted]).toContain(failure.code);
    expect(failure.reason).not.toBe(ErrorReason.UNSPECIFIED);
    expect(await storedFor(bob)).toBe(0);
  });

  it("refuses push info just above the message limit with MESSAGE_TOO_LARGE", async () => {
    const failure = await failureOf(
      messages(alice).sendMessage({
        toUserId: bob,
        body: [text("hiya")],
        offlinePushInfo: { desc: "d".repeat(13 * 1024) },
      }),
    );
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.reason).toBe(ErrorReason.MESSAGE_TOO_LARGE);
    expect(await storedFor(bob)).toBe(0);
  });

  it("counts push info and custom data together with the body", async () => {
    // Each part alone is well within 12 KB; together they are not.
    const failure = await failureOf(
      messages(alice).sendMessage({
        toUserId: bob,
        body: [text("b".repeat(6 * 1024))],
        cloudCustomData: "c".repeat(4 * 1024),
        offlinePushInfo: { title: "t", desc: "d".repeat(1500), ext: "e".repeat(1500) },
      }),
    );
    expect(failure.reason).toBe(ErrorReason.MESSAGE_TOO_LARGE);
  });

  it("limits push title + desc + ext to their own budget, naming the field", async () => {
    const failure = await failureOf(
      messages(alice).sendMessage({
        toUserId: bob,
        body: [text("hiya")],
        offlinePushInfo: { title: "t".repeat(100), desc: "d".repeat(2000), ext: "e".repeat(2000) },
      }),
    );
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.reason).toBe(ErrorReason.INVALID_FIELD);
    expect(failure.field).toBe("offline_push_info.ext");
  });

  it("accepts a message within every limit, push info included", async () => {
    const reply = await messages(alice).sendMessage({
      toUserId: bob,
      body: [text("hello")],
      offlinePushInfo: { title: "Alice", desc: "hello", ext: "{}" },
    });
    expect(reply.seq).toBe(1n);
  });

  it("applies the same rule to group messages", async () => {
    const groups = clientAs(GroupService, app.baseUrl, alice);
    const { group } = await groups.createGroup({ type: GroupType.PUBLIC, name: "limits" });
    const failure = await failureOf(
      groups.sendGroupMessage({
        groupId: group?.groupId ?? "",
        body: [text("hiya")],
        offlinePushInfo: { desc: "d".repeat(13 * 1024) },
      }),
    );
    expect(failure.reason).toBe(ErrorReason.MESSAGE_TOO_LARGE);
  });
});
