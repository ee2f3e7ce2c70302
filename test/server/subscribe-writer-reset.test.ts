import http from "node:http";
import http2 from "node:http2";
import type { Readable } from "node:stream";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Platform, SubscribeRequestSchema } from "../../src/gen/im/v1/events_pb.js";
import type { LiveSink, LiveStreamHandle, StreamOwner } from "../../src/live/live-hub.js";
import { silentLogger } from "../../src/log/logger.js";
import { listen } from "../../src/server/listen.js";
import { createSubscribeWriter } from "../../src/server/subscribe-writer.js";
import { envelope } from "../hostile/raw-call.js";
import { eventually } from "../support/eventually.js";

// A client that resets its Subscribe while the request body is still coming:
// the writer's body read must end with the transport (it hears of the close
// through the call, not a listener of its own), leaving nothing behind — no
// listener or timer holding the closed stream until the body timeout, nothing
// in the hub — and the server serves the next Subscribe as usual. Without the
// call's cancel the HTTP/1.1 case fails (the read holds the request until the
// body timeout); over HTTP/2 Node itself ends a closed stream's readable side,
// so those cases guard the freeing rather than the cancel.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PATH = "/im.v1.EventService/Subscribe";
const request = toBinary(
  SubscribeRequestSchema,
  create(SubscribeRequestSchema, { platform: Platform.IOS, deviceId: "device-1" }),
);
const framed = envelope(0, request);

/** The writer on a real listener, with a hub that records what it holds. */
async function serve() {
  const held = new Map<string, { owner: StreamOwner; sink: LiveSink }>();
  let opened = 0;
  const hub = {
    open: async (owner: StreamOwner, sink: LiveSink): Promise<LiveStreamHandle> => {
      const id = String(++opened);
      held.set(id, { owner, sink });
      return { id };
    },
    resume: () => {},
    close: (handle: LiveStreamHandle) => {
      held.delete(handle.id);
    },
  };
  const shutdown = new AbortController();
  const writer = createSubscribeWriter({
    hub,
    authenticate: async () => ({
      userId: "alice",
      isAdmin: false,
      sigIssuedAtMs: Date.now(),
      sigExpiresAtMs: Date.now() + 3_600_000,
    }),
    logger: silentLogger,
    shutdown: shutdown.signal,
    maxRequestBytes: 1024,
    rejectedBodyLingerMs: 0,
    // Far away: what ends the read here must be the reset, not this timer.
    requestBodyTimeoutMs: 3_600_000,
  });
  // The server-side body of every Subscribe, to see what still listens to it.
  const bodies: Readable[] = [];
  const listener = await listen({
    handler: (req, res) => {
      bodies.push(req as http.IncomingMessage);
      if (!writer.request(req, res)) (res as http.ServerResponse).writeHead(404).end();
    },
    streamHandler: (stream, headers) => {
      bodies.push(stream);
      return writer.stream(stream, headers);
    },
    host: "127.0.0.1",
    port: 0,
    tls: undefined,
    limits: {
      headersTimeoutMs: 10_000,
      requestBodyTimeoutMs: 3_600_000,
      rejectedBodyLingerMs: 0,
      idleTimeoutMs: 60_000,
      h2PingIntervalMs: 60_000,
      h2MaxConcurrentStreams: 100,
      maxConnections: 100,
    },
    logger: silentLogger,
  });
  cleanups.push(() => {
    shutdown.abort();
    listener.stopAccepting();
    listener.destroyAll();
  });
  return { baseUrl: `http://127.0.0.1:${listener.port}`, held, bodies, opened: () => opened };
}

/** The first body's read is under way: the writer listens for its data. */
const reading = (bodies: Readable[]) =>
  eventually(async () => expect(bodies[0]?.listenerCount("data")).toBe(1));

/**
 * The read gave up: its listeners are off the body (its 'data' one stands for
 * them all; Node keeps 'end' listeners of its own on an HTTP/2 stream), so
 * nothing of it holds the closed stream until the body timeout.
 */
const released = (bodies: Readable[]) =>
  eventually(async () => expect(bodies[0]?.listenerCount("data")).toBe(0));

const headers = {
  "content-type": "application/grpc+proto",
  te: "trailers",
  authorization: "Bearer a-sig",
};

describe("a Subscribe reset while its request body is still coming", () => {
  it.each([
    [
      "a reset of the stream (RST_STREAM)",
      (stream: http2.ClientHttp2Stream) => stream.close(http2.constants.NGHTTP2_CANCEL),
    ],
    ["a cut connection", (stream: http2.ClientHttp2Stream) => stream.session?.destroy()],
  ])(
    "over HTTP/2, %s: the call is freed, nothing reaches the hub, the next stream opens",
    async (_, cut) => {
      const s = await serve();
      const first = http2.connect(s.baseUrl);
      cleanups.push(() => first.destroy());
      const reset = first.request({ ":method": "POST", ":path": PATH, ...headers });
      reset.on("error", () => {});
      reset.write(framed.subarray(0, 7)); // the envelope header and two bytes of the message
      await reading(s.bodies);
      cut(reset);
      await released(s.bodies);
      expect([s.opened(), s.held.size]).toEqual([0, 0]);

      // The server goes on: a whole request is registered, and leaves the hub
      // when its client goes.
      const session = http2.connect(s.baseUrl);
      cleanups.push(() => session.destroy());
      const next = session.request({ ":method": "POST", ":path": PATH, ...headers });
      next.on("error", () => {});
      next.end(framed);
      await eventually(async () => expect(s.held.size).toBe(1));
      expect([...s.held.values()][0]?.owner.deviceId).toBe("device-1");
      next.close(http2.constants.NGHTTP2_CANCEL);
      await eventually(async () => expect(s.held.size).toBe(0));
    },
  );

  it("over HTTP/1.1 (Connect): the call is freed, nothing reaches the hub, the next stream opens", async () => {
    const s = await serve();
    const h1Headers = {
      "content-type": "application/connect+proto",
      authorization: "Bearer a-sig",
    };
    const reset = http.request(`${s.baseUrl}${PATH}`, { method: "POST", headers: h1Headers });
    reset.on("error", () => {});
    reset.write(framed.subarray(0, 7));
    await reading(s.bodies);
    reset.destroy();
    await released(s.bodies);
    expect([s.opened(), s.held.size]).toEqual([0, 0]);

    const next = http.request(`${s.baseUrl}${PATH}`, { method: "POST", headers: h1Headers });
    next.on("error", () => {});
    next.end(framed);
    await eventually(async () => expect(s.held.size).toBe(1));
    next.destroy();
    await eventually(async () => expect(s.held.size).toBe(0));
  });
});
