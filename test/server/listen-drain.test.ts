import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { readTransportLimits } from "../../src/config/transport-limits.js";
import { silentLogger } from "../../src/log/logger.js";
import { type Listener, listen } from "../../src/server/listen.js";
import { deferred } from "../support/deferred.js";

// A drain waits for the HTTP/2 streams the stream handler took (as Subscribe's
// writer takes them), counted by their session's watch, not by the handler: it
// does not answer while one is open, and answers as soon as the last one ends
// (not at its timeout).

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const limits = readTransportLimits({}, 12 * 1024);

describe("a graceful drain", () => {
  it("waits for a stream the stream handler took, and answers once it ends", async () => {
    const taken = deferred<http2.ServerHttp2Stream>();
    const listener: Listener = await listen({
      handler: (_req, res) => {
        res.statusCode = 404;
        res.end();
      },
      streamHandler: (stream) => {
        stream.respond({ ":status": 200 });
        taken.resolve(stream);
        return true;
      },
      host: "127.0.0.1",
      port: 0,
      tls: undefined,
      limits,
      logger: silentLogger,
    });
    cleanups.push(() => listener.destroyAll());
    const session = http2.connect(`http://127.0.0.1:${listener.port}`);
    cleanups.push(() => session.destroy());
    session.on("error", () => {});
    const client = session.request({ ":method": "POST", ":path": "/held" });
    client.on("error", () => {});
    client.resume();
    const stream = await taken.promise;

    listener.stopAccepting();
    listener.closeGracefully();
    // A timeout far past the test's: only the stream's end can answer it in time.
    let answer: boolean | undefined;
    const drained = listener.drained(3_600_000).then((a) => {
      answer = a;
    });
    // A round trip on the session: the server has handled everything before it.
    await new Promise<void>((resolve, reject) =>
      session.ping((err) => (err === null ? resolve() : reject(err))),
    );
    expect(answer).toBeUndefined();

    stream.end();
    await drained;
    expect(answer).toBe(true);
  });
});
