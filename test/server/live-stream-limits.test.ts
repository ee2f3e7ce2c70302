import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf, sigFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Live streams follow the account's authority and the per-device rules, through
// real clients: on the embedded default (one node) and on FerretDB + nats-server
// with two nodes, where the change is made on one node and the stream is on the other.

const settings = { STREAMS_PER_USER_MAX: "3", STREAM_AUTHORITY_CHECK_MS: "50" };

/** Server time is real time plus this; moved forward to expire sigs without waiting. */
let clockOffsetMs = 0;
const clock = () => Date.now() + clockOffsetMs;

const backends: [string, () => Promise<[TestApp, TestApp]>][] = [
  [
    "embedded default (one node)",
    async () => {
      const app = await startTestApp(settings, { clock });
      return [app, app];
    },
  ],
  [
    "FerretDB + nats-server (two nodes)",
    async () => {
      const env = {
        ...settings,
        MONGO_URL: testMongoUrl(),
        MONGO_DATABASE: uniqueName("livelimits"),
        NATS_URL: testNatsUrl(),
        NATS_NAMESPACE: uniqueName("livelimits"),
      };
      return Promise.all([startTestApp(env, { clock }), startTestApp(env, { clock })]);
    },
  ],
];

/** The code and reason a stream ended with (it must end with an error). */
const endOf = async (stream: OpenStream) => {
  const f = await failureOf(
    stream.ended.then((err) => {
      if (err !== undefined) throw err;
    }),
  );
  return { code: Code[f.code], reason: ErrorReason[f.reason] };
};

/** A sig issued `agoSec` seconds ago (before any invalidation made from now on). */
const oldSig = (userId: string, agoSec = 10, expireSec = 3600) =>
  sigFor(userId, { issuedAtSec: Math.floor(Date.now() / 1000) - agoSec, expireSec });

describe.each(backends)("live streams on %s", (_name, startNodes) => {
  let a: TestApp;
  let b: TestApp;
  const users = ["ann", "bob", "cyd", "dan", "eve", "fay"];
  beforeAll(async () => {
    [a, b] = await startNodes();
    await clientAs(AccountService, a.baseUrl, ADMIN).importAccounts({
      accounts: users.map((userId) => ({ userId })),
    });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it("ends streams on every node with SIG_REVOKED after InvalidateUserSigs", async () => {
    const onB = await openStream(b.baseUrl, "ann", "phone", "grpc", oldSig("ann"));
    const onA = await openStream(a.baseUrl, "ann", "web", "connect-h2", oldSig("ann"));
    await clientAs(AccountService, a.baseUrl, ADMIN).invalidateUserSigs({ userId: "ann" });
    expect(await endOf(onB)).toEqual({ code: "Unauthenticated", reason: "SIG_REVOKED" });
    expect(await endOf(onA)).toEqual({ code: "Unauthenticated", reason: "SIG_REVOKED" });
  });

  it("ends streams on every node with ACCOUNT_NOT_FOUND after DeleteAccounts", async () => {
    const onB = await openStream(b.baseUrl, "bob", "phone", "grpc-web");
    const onA = await openStream(a.baseUrl, "bob", "web", "connect-json-h1");
    const other = await openStream(b.baseUrl, "cyd", "phone");
    await clientAs(AccountService, a.baseUrl, ADMIN).deleteAccounts({ userIds: ["bob"] });
    expect(await endOf(onB)).toEqual({ code: "Unauthenticated", reason: "ACCOUNT_NOT_FOUND" });
    expect(await endOf(onA)).toEqual({ code: "Unauthenticated", reason: "ACCOUNT_NOT_FOUND" });
    // Another user's stream is untouched: it still gets what is sent after the deletion.
    await clientAs(MessageService, a.baseUrl, "dan").sendMessage({
      toUserId: "cyd",
      body: [text("still here")],
    });
    await other.waitForMessages(1, 10_000);
    other.close();
  });

  it("ends a stream with SIG_EXPIRED once its UserSig expires", async () => {
    const sig = oldSig("dan", 10, 3600);
    const onB = await openStream(b.baseUrl, "dan", "phone", "connect-h2", sig);
    const fresh = await openStream(b.baseUrl, "dan", "web", "connect-h2", oldSig("dan", 10, 7200));
    clockOffsetMs = 3600_000; // the first sig is now past its expiry, the second is not
    try {
      expect(await endOf(onB)).toEqual({ code: "Unauthenticated", reason: "SIG_EXPIRED" });
    } finally {
      clockOffsetMs = 0;
    }
    await clientAs(MessageService, a.baseUrl, "eve").sendMessage({
      toUserId: "dan",
      body: [text("after expiry")],
    });
    await fresh.waitForMessages(1, 10_000);
    fresh.close();
  });

  it("replaces a device's stream opened on the other node, and caps a user's devices", async () => {
    const first = await openStream(a.baseUrl, "eve", "phone", "grpc");
    const second = await openStream(b.baseUrl, "eve", "phone", "connect-h2");
    expect(await endOf(first)).toEqual({ code: "Aborted", reason: "STREAM_REPLACED" });
    await clientAs(MessageService, a.baseUrl, "fay").sendMessage({
      toUserId: "eve",
      body: [text("to the new stream")],
    });
    await second.waitForMessages(1, 10_000);

    // STREAMS_PER_USER_MAX=3 on the node: a fourth device there is refused.
    const more = [
      await openStream(b.baseUrl, "eve", "web"),
      await openStream(b.baseUrl, "eve", "tablet"),
    ];
    const refused = await failureOf(openStream(b.baseUrl, "eve", "laptop", "grpc"));
    expect([Code[refused.code], ErrorReason[refused.reason]]).toEqual([
      "ResourceExhausted",
      "STREAM_LIMIT_REACHED",
    ]);
    // The same device reconnecting is not refused.
    const again = await openStream(b.baseUrl, "eve", "tablet");
    expect(await endOf(more[1] as OpenStream)).toEqual({
      code: "Aborted",
      reason: "STREAM_REPLACED",
    });
    for (const s of [second, more[0], again]) s?.close();
  });
});
