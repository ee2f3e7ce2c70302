import { type Client, Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { type Message, MessageService } from "../../src/gen/im/v1/message_pb.js";
import { decodeWebhookRequest } from "../../src/webhooks/encoding.js";
import { startTestServer } from "../../src/webhooks/test-server.js";
import {
  startFerretDb,
  startNatsServer,
  testMongoUrl,
  testNatsUrl,
  uniqueName,
} from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { startServerProcess } from "../support/server-process.js";
import { type SteadySender, steadySender } from "../support/steady-sender.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp } from "../support/test-app.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Live events a kill -9 may lose in flight (the outbox republishes everything else). */
const LOST_LIVE_AT_FAULT_MAX = 3;

/** Fast outbox timings so recovery happens within the test. */
const OUTBOX = { OUTBOX_INTERVAL_MS: "200", OUTBOX_STALE_MS: "300" };

/** Every message of the conversation, by paging SyncMessages to the end. */
async function history(client: Client<typeof MessageService>): Promise<Message[]> {
  const all: Message[] = [];
  let after = 0n;
  for (;;) {
    const page = await client.syncMessages({ peerUserId: "alice", afterSeq: after });
    all.push(...page.messages);
    if (!page.hasMore) return all;
    after = page.coveredUpToSeq;
  }
}

/** Each acked message is in history exactly once, with its acked seq, and reached bob's device. */
async function expectNoLoss(
  acked: SteadySender["acked"],
  bobClient: Client<typeof MessageService>,
  bobDevice: OpenStream,
) {
  const stored = await history(bobClient);
  const byClientId = new Map<string, Message[]>();
  for (const m of stored)
    byClientId.set(m.clientMessageId, [...(byClientId.get(m.clientMessageId) ?? []), m]);
  for (const [id, { seq }] of acked) {
    expect(
      byClientId.get(id)?.map((m) => m.seq),
      id,
    ).toEqual([seq]);
  }
  expect([...byClientId.values()].every((copies) => copies.length === 1)).toBe(true);
  // Live delivery (repaired by the outbox after the fault) reaches the device. It
  // is at most once: an event inside a process or nats-server at the instant it is
  // killed can be lost live. The client still sees each such gap (later seqs arrive
  // live) and fills it from history, which holds every acked message (above).
  const ackedSeqs = [...acked.values()].map((a) => a.seq);
  const lastAcked = ackedSeqs.at(-1) ?? 0n; // one sender, one send at a time: acks come in seq order
  await eventually(
    async () => {
      const live = new Set(bobDevice.messages().map((m) => m.seq));
      expect(live.has(lastAcked)).toBe(true);
      const missing = ackedSeqs.filter((seq) => !live.has(seq));
      expect(missing.length).toBeLessThanOrEqual(LOST_LIVE_AT_FAULT_MAX);
    },
    20_000,
    100,
  );
}

describe("no acknowledged message is lost", () => {
  it("when the server process that acked it is killed -9 under load and restarted", async () => {
    const env = {
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("kill9"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("kill9"),
      ...OUTBOX,
    };
    const server = await startServerProcess(env);
    cleanups.push(() => server.kill());
    // A second node: bob's device streams there; it shares the fan-out and outbox work.
    const otherNode = await startTestApp(env);
    cleanups.push(() => otherNode.close());
    await clientAs(AccountService, server.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const bobDevice = await openStream(otherNode.baseUrl, "bob");
    cleanups.push(async () => bobDevice.close());

    const sender = steadySender(clientAs(MessageService, server.baseUrl, "alice"));
    await sender.untilAcked(30);
    await server.kill("SIGKILL");
    await sleep(300);
    await server.restart();
    await sender.untilAcked(60);
    await sender.stop();
    expect(sender.failures()).toBeGreaterThan(0);

    await expectNoLoss(sender.acked, clientAs(MessageService, otherNode.baseUrl, "bob"), bobDevice);
  }, 300_000);

  it("lets a retry take over the claim of a sender killed between claiming and storing", async () => {
    // The first before-send call for the message never gets its answer in time:
    // the server is killed while it waits, holding the message's idempotency claim.
    let heldOnce = false;
    const hook = await startTestServer((req, res) => {
      const event = decodeWebhookRequest(req.body).event;
      const first = event.case === "c2cBeforeSend" ? event.value.body[0]?.element : undefined;
      const hold = first?.case === "text" && first.value.text === "orphan" && !heldOnce;
      heldOnce ||= hold;
      const reply = () =>
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ action: "BEFORE_SEND_ACTION_ALLOW" }));
      if (hold) setTimeout(reply, 1500);
      else reply();
    });
    cleanups.push(() => hook.close());
    const leaseMs = 4000;
    const server = await startServerProcess({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("orphan"),
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("orphan"),
      WEBHOOK_URL: hook.url,
      WEBHOOK_SECRET: "s3cret",
      MESSAGE_CLAIM_LEASE_MS: String(leaseMs),
    });
    cleanups.push(() => server.kill());
    await clientAs(AccountService, server.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const send = () =>
      clientAs(MessageService, server.baseUrl, "alice").sendMessage({
        toUserId: "bob",
        body: [text("orphan")],
        clientMessageId: "orphan-1",
      });

    const claimedAt = Date.now();
    const abandoned = send().catch(() => undefined);
    await eventually(async () => expect(heldOnce).toBe(true), 10_000, 20);
    await server.kill("SIGKILL");
    await abandoned;
    await server.restart();

    // Retried as a client would: SEND_IN_PROGRESS while the claim may still be live.
    let retried: Awaited<ReturnType<typeof send>> | undefined;
    while (retried === undefined) {
      retried = await send().catch(async (err: unknown) => {
        expect((await failureOf(Promise.reject(err))).reason).toBe(ErrorReason.SEND_IN_PROGRESS);
        return undefined;
      });
    }
    // Taken over only once the lease ran out, and stored once.
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(leaseMs - 100);
    expect([retried.seq, retried.duplicate]).toEqual([1n, false]);
    const stored = await clientAs(MessageService, server.baseUrl, "bob").syncMessages({
      peerUserId: "alice",
    });
    expect(stored.messages.map((m) => m.clientMessageId)).toEqual(["orphan-1"]);
    expect((await send()).duplicate).toBe(true);
  }, 60_000);

  it("when nats-server is killed -9 under load: sends keep being acked and delivery resumes", async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const app = await startTestApp({
      MONGO_URL: testMongoUrl(),
      MONGO_DATABASE: uniqueName("natsdown"),
      NATS_URL: nats.url,
      ...OUTBOX,
    });
    cleanups.push(() => app.close());
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const bobDevice = await openStream(app.baseUrl, "bob");
    cleanups.push(async () => bobDevice.close());

    const sender = steadySender(clientAs(MessageService, app.baseUrl, "alice"));
    await sender.untilAcked(40);
    await nats.stop("SIGKILL");
    const ackedAtOutage = sender.acked.size;
    // The document store is the source of truth: sends are still acknowledged (waited
    // for, not given a fixed second; the test's timeout is the guard).
    await sender.untilAcked(ackedAtOutage + 6);
    await nats.restart();
    await sender.untilAcked(sender.acked.size + 40);
    await sender.stop();

    await expectNoLoss(sender.acked, clientAs(MessageService, app.baseUrl, "bob"), bobDevice);
  }, 300_000);
});

describe("document store down", () => {
  it("fails sends fast with Unavailable and acknowledges nothing, then recovers", async () => {
    const ferret = await startFerretDb();
    cleanups.push(() => ferret.dispose());
    const app = await startTestApp({ MONGO_URL: ferret.url, MONGO_DATABASE: "im" });
    cleanups.push(() => app.close());
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const alice = clientAs(MessageService, app.baseUrl, "alice");
    await alice.sendMessage({ toUserId: "bob", body: [text("before")] });

    await ferret.stop("SIGKILL");
    const started = Date.now();
    const f = await failureOf(
      alice.sendMessage({ toUserId: "bob", body: [text("during")], clientMessageId: "d1" }),
    );
    expect([f.code, f.reason]).toEqual([Code.Unavailable, ErrorReason.STORAGE_UNAVAILABLE]);
    expect(Date.now() - started).toBeLessThan(8000);

    await ferret.restart();
    await eventually(
      async () => {
        const r = await alice.sendMessage({
          toUserId: "bob",
          body: [text("after")],
          clientMessageId: "d2",
        });
        expect(r.seq).toBeGreaterThan(0n);
      },
      20_000,
      200,
    );
    const synced = await clientAs(MessageService, app.baseUrl, "bob").syncMessages({
      peerUserId: "alice",
    });
    expect(synced.messages.map((m) => m.body[0]?.element.value)).toEqual([
      expect.objectContaining({ text: "before" }),
      expect.objectContaining({ text: "after" }),
    ]);
  }, 60_000);
});
