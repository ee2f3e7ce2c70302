import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorDetailSchema, ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { EventService, type SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { createLogger } from "../../src/log/logger.js";
import { clientAs, sigFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// EventService.Subscribe is served by the server's own writer of pre-encoded
// frames (src/server/subscribe-writer.ts) for gRPC, gRPC-Web and Connect
// streaming; real connect-node clients of every transport see what the
// Connect implementation gave them: Ready, messages, keep-alives, errors with
// their ErrorDetail, deadlines, a clean end at shutdown.

type Make = (baseUrl: string, sig: string | undefined) => Transport;
const auth = (sig: string | undefined): Interceptor[] => [
  (next) => (req) => {
    if (sig !== undefined) req.header.set("authorization", `Bearer ${sig}`);
    return next(req);
  },
];

const TRANSPORTS: [string, "grpc" | "grpc-web" | "connect", Make][] = [
  [
    "gRPC (h2, proto)",
    "grpc",
    (baseUrl, sig) => createGrpcTransport({ baseUrl, interceptors: auth(sig) }),
  ],
  [
    "gRPC (h2, json)",
    "grpc",
    (baseUrl, sig) =>
      createGrpcTransport({ baseUrl, useBinaryFormat: false, interceptors: auth(sig) }),
  ],
  [
    "gRPC-Web (HTTP/1.1, proto)",
    "grpc-web",
    (baseUrl, sig) =>
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors: auth(sig) }),
  ],
  [
    "gRPC-Web (h2, json)",
    "grpc-web",
    (baseUrl, sig) =>
      createGrpcWebTransport({
        baseUrl,
        httpVersion: "2",
        useBinaryFormat: false,
        interceptors: auth(sig),
      }),
  ],
  [
    "Connect (h2, proto)",
    "connect",
    (baseUrl, sig) =>
      createConnectTransport({ baseUrl, httpVersion: "2", interceptors: auth(sig) }),
  ],
  [
    "Connect (HTTP/1.1, json)",
    "connect",
    (baseUrl, sig) =>
      createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        useBinaryFormat: false,
        interceptors: auth(sig),
      }),
  ],
];

interface Stream {
  events: SubscribeResponse[];
  waitFor(match: (e: SubscribeResponse) => boolean): Promise<void>;
  /** Resolves when the server ends the stream: with its error, or undefined for a clean end. */
  ended: Promise<ConnectError | undefined>;
}

function subscribe(
  transport: Transport,
  deviceId: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Stream {
  const events: SubscribeResponse[] = [];
  const waiters = new Set<() => void>();
  let done = false;
  const call = createClient(EventService, transport).subscribe(
    { deviceId },
    { headers, ...(signal === undefined ? {} : { signal }) },
  );
  const ended = (async () => {
    try {
      for await (const e of call) {
        events.push(e);
        for (const w of waiters) w();
      }
      return undefined;
    } catch (err) {
      return ConnectError.from(err);
    } finally {
      // Done before the waiters look: one waiting for an event that never came fails now.
      done = true;
      for (const w of waiters) w();
    }
  })();
  return {
    events,
    ended,
    waitFor: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (events.some(match)) {
            waiters.delete(check);
            resolve();
          } else if (done) {
            waiters.delete(check);
            void ended.then((err) =>
              reject(err ?? new Error("stream ended without the awaited event")),
            );
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

const describeError = (err: ConnectError | undefined) =>
  err === undefined
    ? "clean end"
    : `${Code[err.code]} ${ErrorReason[err.findDetails(ErrorDetailSchema)[0]?.reason ?? 0]}`;

const oldSig = (userId: string) =>
  sigFor(userId, { issuedAtSec: Math.floor(Date.now() / 1000) - 10 });

let app: TestApp;
const logLines: Record<string, unknown>[] = [];
beforeAll(async () => {
  app = await startTestApp(
    { STREAM_KEEPALIVE_MS: "200" },
    {
      logger: createLogger({
        level: "debug",
        write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>),
      }),
    },
  );
  await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "sender" }, ...TRANSPORTS.map((_, i) => ({ userId: `u${i}` }))],
  });
});
afterAll(() => app?.close());

describe.each(TRANSPORTS.map(([name, protocol, make], i) => ({ name, protocol, make, i })))(
  "Subscribe over $name",
  ({ protocol, make, i }) => {
    const user = `u${i}`;

    it("gets Ready first, then messages and keep-alives, then a revocation with its ErrorDetail", async () => {
      const s = subscribe(make(app.baseUrl, oldSig(user)), "phone");
      await s.waitFor((e) => e.event.case === "ready");
      expect(s.events[0]?.event.case).toBe("ready");
      const sent = await clientAs(MessageService, app.baseUrl, "sender").sendMessage({
        toUserId: user,
        body: [text(`to ${user}`)],
      });
      await s.waitFor((e) => e.event.case === "message" && e.event.value.seq === sent.seq);
      await s.waitFor((e) => e.event.case === "keepAlive");
      await clientAs(AccountService, app.baseUrl, ADMIN).invalidateUserSigs({ userId: user });
      expect(describeError(await s.ended)).toBe("Unauthenticated SIG_REVOKED");
      // Served by the own writer, not the Connect fallback.
      expect(
        logLines.some(
          (l) => l.writer === "live" && l.protocol === protocol && l.msg === "rpc failed",
        ),
      ).toBe(true);
    });

    it("refuses a call without a UserSig and an invalid device id, naming the field", async () => {
      const anonymous = subscribe(make(app.baseUrl, undefined), "phone");
      expect(describeError(await anonymous.ended)).toBe("Unauthenticated SIG_MISSING");
      const bad = subscribe(make(app.baseUrl, sigFor("sender")), "bad device!");
      const err = await bad.ended;
      expect(describeError(err)).toBe("InvalidArgument INVALID_FIELD");
      expect(err?.findDetails(ErrorDetailSchema)[0]?.field).toBe("device_id");
    });

    it("ends the stream with DeadlineExceeded at the deadline the request carries", async () => {
      const headers: Record<string, string> =
        protocol === "connect" ? { "connect-timeout-ms": "300" } : { "grpc-timeout": "300m" };
      const s = subscribe(make(app.baseUrl, sigFor("sender")), `deadline-${i}`, headers);
      // Ready may or may not beat 300 ms on a loaded machine; either way the deadline ends it.
      expect((await s.ended)?.code).toBe(Code.DeadlineExceeded);
      expect(s.events.every((e) => e.event.case === "ready" || e.event.case === "keepAlive")).toBe(
        true,
      );
    });

    it("keeps a stream whose deadline is past the longest timer open (Node would fire that timer at once)", async () => {
      const headers: Record<string, string> =
        protocol === "connect"
          ? { "connect-timeout-ms": "9999999999" }
          : { "grpc-timeout": "99999999H" };
      const leave = new AbortController();
      const s = subscribe(
        make(app.baseUrl, sigFor("sender")),
        `far-deadline-${i}`,
        headers,
        leave.signal,
      );
      // A keep-alive (every 200 ms) comes only to a stream still open after Ready.
      await s.waitFor((e) => e.event.case === "keepAlive");
      leave.abort();
      expect((await s.ended)?.code).toBe(Code.Canceled);
    });
  },
);

describe("what the writer leaves to Connect", () => {
  it("serves a gzip-compressed Connect request through the Connect implementation", async () => {
    const transport = createConnectTransport({
      baseUrl: app.baseUrl,
      httpVersion: "2",
      sendCompression: compressionGzip,
      interceptors: auth(sigFor("sender")),
    });
    const s = subscribe(transport, "gzip");
    await s.waitFor((e) => e.event.case === "ready");
  });

  it("answers a malformed request body with InvalidArgument in the protocol's form", async () => {
    const res = await fetch(`${app.baseUrl}/im.v1.EventService/Subscribe`, {
      method: "POST",
      headers: {
        "content-type": "application/connect+proto",
        authorization: `Bearer ${sigFor("sender")}`,
      },
      body: new Uint8Array([0, 0, 0, 0, 9, 1, 2]),
    });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body[0]).toBe(2); // end-stream frame
    const endStream = JSON.parse(new TextDecoder().decode(body.subarray(5))) as {
      error?: { code?: string };
    };
    expect(endStream.error?.code).toBe("invalid_argument");
  });
});

describe("shutdown", () => {
  it("ends every protocol's streams cleanly", async () => {
    const node = await startTestApp();
    await clientAs(AccountService, node.baseUrl, ADMIN).importAccounts({
      accounts: [{ userId: "ann" }],
    });
    const streams = TRANSPORTS.map(([, , make], i) =>
      subscribe(make(node.baseUrl, sigFor("ann")), `shutdown-${i}`),
    );
    for (const s of streams) await s.waitFor((e) => e.event.case === "ready");
    await node.close();
    expect(await Promise.all(streams.map(async (s) => describeError(await s.ended)))).toEqual(
      TRANSPORTS.map(() => "clean end"),
    );
  });
});
