import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { createLogger } from "../../src/log/logger.js";
import { clientAs, sigFor } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { startServerProcess } from "../support/server-process.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp } from "../support/test-app.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Resolves when `emitter` emits `event`, or rejects with `what` after `ms` (a hang guard). */
const until = (
  emitter: NodeJS.EventEmitter,
  event: string,
  ms: number,
  what: string,
): Promise<unknown[]> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    emitter.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });

async function app(env: Record<string, string>) {
  const a = await startTestApp(env);
  cleanups.push(() => a.close());
  await clientAs(AccountService, a.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
  return a;
}

describe("slow and silent clients are cut", () => {
  it("cuts an HTTP/1.1 body trickled byte by byte after the body timeout", async () => {
    const a = await app({ REQUEST_BODY_TIMEOUT_MS: "1000" });
    const req = http.request(`${a.baseUrl}/im.v1.MessageService/SendMessage`, {
      method: "POST",
      headers: {
        "content-type": "application/proto",
        "content-length": "1000",
        authorization: `Bearer ${sigFor("alice")}`,
      },
    });
    req.on("error", () => {});
    const trickle = setInterval(() => req.write(new Uint8Array(1)), 50);
    cleanups.push(() => clearInterval(trickle));
    const [res] = (await until(req, "response", 10_000, "answer to a trickled body")) as [
      http.IncomingMessage,
    ];
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    await until(req.socket ?? req, "close", 10_000, "connection of a trickled body closed");
    const error = JSON.parse(Buffer.concat(chunks).toString()) as { code: string };
    expect([res.statusCode, error.code]).toEqual([504, "deadline_exceeded"]);
  });

  it("cuts an HTTP/2 stream whose body trickles, answering in its protocol", async () => {
    const a = await app({ REQUEST_BODY_TIMEOUT_MS: "1000" });
    const session = http2.connect(a.baseUrl);
    cleanups.push(() => session.destroy());
    const stream = session.request({
      ":method": "POST",
      ":path": "/im.v1.MessageService/SendMessage",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${sigFor("alice")}`,
    });
    stream.on("error", () => {});
    stream.write(Uint8Array.of(0, 0, 0, 0x10, 0)); // a 4 KB message, then a byte at a time
    const trickle = setInterval(() => stream.write(new Uint8Array(1)), 50);
    cleanups.push(() => clearInterval(trickle));
    stream.resume(); // a client reads what it is sent
    // The server's RST_STREAM is what cuts the body: the client's stream is then
    // "aborted" (its own side was still open). Its "close" can come much later,
    // or never, when a trickled write was in flight at the reset (Node's client
    // side), so either counts. Listening before the trailers arrive: on a loaded
    // machine they can come in one read with the reset.
    const closed = Promise.race([
      until(stream, "aborted", 20_000, "trickled stream reset"),
      until(stream, "close", 20_000, "trickled stream reset"),
    ]);
    closed.catch(() => {}); // awaited below; handled here so an earlier failure reports alone
    const [trailers] = (await until(stream, "trailers", 10_000, "trailers")) as [
      http2.IncomingHttpHeaders,
    ];
    expect(trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    await closed;
  });

  it("closes a socket that never sends a byte after the header timeout", async () => {
    const a = await app({ HEADERS_TIMEOUT_MS: "300" });
    const socket = net.connect(Number(new URL(a.baseUrl).port), "127.0.0.1");
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    await until(socket, "close", 10_000, "silent socket closed");
  });

  it("closes an HTTP/1.1 connection whose headers never finish", async () => {
    const a = await app({ HEADERS_TIMEOUT_MS: "300" });
    const socket = net.connect(Number(new URL(a.baseUrl).port), "127.0.0.1");
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    socket.resume();
    socket.write("POST /im.v1.AccountService/WhoAmI HTTP/1.1\r\nhost: x\r\n");
    await until(socket, "close", 10_000, "half-headers socket closed");
  });
});

describe("HTTP/2 connections", () => {
  it("closes a connection with no stream open after the idle timeout, but not one holding a quiet stream", async () => {
    const a = await app({ IDLE_TIMEOUT_MS: "300", STREAM_KEEPALIVE_MS: "100" });
    const session = http2.connect(a.baseUrl);
    cleanups.push(() => session.destroy());
    await until(session, "connect", 5000, "connected");
    await until(session, "goaway", 10_000, "idle connection sent GOAWAY");

    // A device stream over its own connection outlives many idle timeouts.
    const device = await openStream(a.baseUrl, "bob");
    cleanups.push(() => device.close());
    const keepAlives = () => device.events.filter((e) => e.event.case === "keepAlive").length;
    await device.waitFor(() => keepAlives() >= 10, 10_000);
    expect(await Promise.race([device.ended, Promise.resolve("open")])).toBe("open");
  });

  it("cuts a peer that stops answering PINGs, not one that answers them", async () => {
    const a = await app({ H2_PING_INTERVAL_MS: "200", IDLE_TIMEOUT_MS: "600000" });
    const port = Number(new URL(a.baseUrl).port);
    // A live peer: Node's client acknowledges every PING. It connects first, so it
    // has waited through more PING rounds than the dead one by the time that is cut.
    const live = http2.connect(a.baseUrl);
    cleanups.push(() => live.destroy());
    await until(live, "connect", 5000, "live peer connected");

    // A dead peer: speaks the HTTP/2 preface and acknowledges the server's
    // SETTINGS, then never answers anything, PINGs included.
    const dead = net.connect(port, "127.0.0.1");
    cleanups.push(() => dead.destroy());
    await until(dead, "connect", 5000, "dead peer connected");
    const settings = (flags: number) => Uint8Array.of(0, 0, 0, 4, flags, 0, 0, 0, 0);
    dead.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), settings(0)]));
    dead.once("data", () => dead.write(settings(1)));
    dead.on("error", () => {});
    await until(dead, "close", 15_000, "a peer that never answers a PING is cut");
    expect(live.closed || live.destroyed).toBe(false);
  });

  it("caps concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS)", async () => {
    const a = await app({ H2_MAX_CONCURRENT_STREAMS: "2" });
    const session = http2.connect(a.baseUrl, { peerMaxConcurrentStreams: 100 });
    cleanups.push(() => session.destroy());
    await until(session, "remoteSettings", 5000, "server settings");
    expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
  });
});

describe("open connections are capped", () => {
  it("at MAX_CONNECTIONS evicts the oldest silent socket for a newcomer, and refuses one when all have spoken", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "warn", write: (l) => lines.push(l) });
    // A long first-byte deadline: only the cap can close the silent sockets below.
    const a = await startTestApp(
      { MAX_CONNECTIONS: "2", HEADERS_TIMEOUT_MS: "600000" },
      { logger },
    );
    cleanups.push(() => a.close());
    const port = Number(new URL(a.baseUrl).port);
    const silentSocket = async (what: string) => {
      const s = net.connect(port, "127.0.0.1");
      cleanups.push(() => s.destroy());
      s.on("error", () => {});
      const closed = until(s, "close", 30_000, what);
      closed.catch(() => {}); // awaited where expected; a hang guard otherwise
      await until(s, "connect", 5000, "silent socket connected");
      return { closed }; // not the promise itself: an async function would wait for it
    };
    /** An HTTP/2 client that has spoken; resolves once the server answered a health check on it. */
    const speaker = async () => {
      const session = http2.connect(a.baseUrl);
      cleanups.push(() => session.destroy());
      session.on("error", () => {});
      const req = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/json",
      });
      req.end("{}");
      const [headers] = (await until(req, "response", 10_000, "health answer")) as [
        http2.IncomingHttpHeaders,
      ];
      req.resume();
      expect(headers[":status"]).toBe(200);
      return session;
    };

    const silent = await silentSocket("the silent socket evicted for a newcomer");
    const first = await speaker();
    // The cap is reached: the newcomer is served, the silent socket makes room for it.
    const second = await speaker();
    await silent.closed;
    // Both open connections have spoken: a new one is closed at accept, and logged.
    await (await silentSocket("a newcomer refused at accept")).closed;
    expect(lines.join("")).toMatch(/connection limit reached/);
    expect([first.closed || first.destroyed, second.closed || second.destroyed]).toEqual([
      false,
      false,
    ]);
  });
});

describe("HTTP/1.1 keep-alive connections", () => {
  /** One health check over a raw keep-alive HTTP/1.1 connection; its answer's headers and the socket. */
  const healthOverH1 = async (baseUrl: string) => {
    const socket = net.connect(Number(new URL(baseUrl).port), "127.0.0.1");
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    let received = "";
    socket.on("data", (d: Buffer) => {
      received += d;
    });
    const closed = until(socket, "close", 10_000, "keep-alive connection closed by the server");
    closed.catch(() => {}); // awaited where expected
    socket.write(
      "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n" +
        "content-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    );
    await eventually(async () => expect(received).toMatch(/\r\n\r\n\{.*\}/s), 10_000);
    return { head: received.slice(0, received.indexOf("\r\n\r\n")).toLowerCase(), closed };
  };

  it("announce the idle timeout and are closed by the server after it", async () => {
    // Node's own default is 5 s; ours is IDLE_TIMEOUT_MS (120 s), announced in Keep-Alive.
    const byDefault = await healthOverH1((await app({})).baseUrl);
    expect(byDefault.head).toMatch(/^http\/1\.1 200/);
    expect(byDefault.head).toMatch(/\r\nkeep-alive: timeout=120\r?$/m);

    const short = await healthOverH1((await app({ IDLE_TIMEOUT_MS: "300" })).baseUrl);
    expect(short.head).toMatch(/^http\/1\.1 200/);
    await short.closed;
  });
});

describe("connection flood", () => {
  it("serves a new client while 20,000 idle sockets are held open", async () => {
    const server = await startServerProcess({});
    const { port } = server;
    cleanups.push(() => server.kill());
    // Two holders of 10,000: the fd limit here (20,000, hard) caps one process.
    const holders = [holdSockets(port, 10_000), holdSockets(port, 10_000)];
    for (const h of holders) cleanups.push(() => h.stop());
    const counts = await Promise.all(holders.map((h) => h.opened));
    const opened = {
      connected: counts.reduce((n, c) => n + c.connected, 0),
      closedByServer: counts.reduce((n, c) => n + c.closedByServer, 0),
    };
    // The server took what its cap allows and closed the rest at accept.
    const started = performance.now();
    const health = await clientAs(Health, server.baseUrl, undefined, "connect-json-h1").check({});
    const grpcHealth = await clientAs(Health, server.baseUrl, undefined, "grpc").check({});
    const ms = Math.round(performance.now() - started);
    console.info(
      `20,000 idle sockets (${opened.connected} connected, ${opened.closedByServer} closed by the server so far): new client served in ${ms} ms`,
    );
    expect([health.status, grpcHealth.status]).toEqual([
      ServingStatus.SERVING,
      ServingStatus.SERVING,
    ]);
    // Locked out, the check would never be answered; a loaded machine may take seconds.
    expect(ms).toBeLessThan(30_000);
    await expect(
      clientAs(AccountService, server.baseUrl, ADMIN).checkAccounts({ userIds: ["x"] }),
    ).resolves.toBeDefined();
  }, 300_000); // a hang guard: opening 20,000 sockets takes minutes at load 30
});

/**
 * Opens `count` TCP connections from a child process (so the test's own fd
 * limit does not cap the flood) and holds them silently.
 */
function holdSockets(port: number, count: number) {
  const script = `
    const net = require("node:net");
    let connected = 0, closed = 0, settled = 0;
    const settle = () => { if (++settled === ${count}) console.log(JSON.stringify({ connected, closedByServer: closed })); };
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect(${port}, "127.0.0.1");
      s.on("connect", () => { connected++; settle(); });
      s.on("error", () => {});
      s.on("close", () => { closed++; });
    }
    setInterval(() => {}, 1000);
  `;
  const child: ChildProcess = spawn(process.execPath, ["-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const opened = new Promise<{ connected: number; closedByServer: number }>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line !== undefined) resolve(JSON.parse(line));
    });
    child.once("exit", (code) => reject(new Error(`socket holder exited with ${code}`)));
  });
  return {
    opened,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

describe("request errors carry their reason", () => {
  it("answers a trickled Connect body with REQUEST_TIMEOUT", async () => {
    const a = await app({ REQUEST_BODY_TIMEOUT_MS: "500" });
    const req = http.request(`${a.baseUrl}/im.v1.MessageService/SendMessage`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": "1000",
        authorization: `Bearer ${sigFor("alice")}`,
      },
    });
    req.on("error", () => {});
    req.write("{");
    const [res] = (await until(req, "response", 10_000, "answer")) as [http.IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as {
      details?: { debug?: { reason?: string } }[];
    };
    expect(body.details?.[0]?.debug?.reason).toBe("ERROR_REASON_REQUEST_TIMEOUT");
  });
  it("answers a Subscribe whose body never completes with REQUEST_TIMEOUT (the live writer)", async () => {
    const a = await app({ REQUEST_BODY_TIMEOUT_MS: "500" });
    const req = http.request(`${a.baseUrl}/im.v1.EventService/Subscribe`, {
      method: "POST",
      headers: {
        "content-type": "application/connect+json",
        authorization: `Bearer ${sigFor("alice")}`,
      },
    });
    req.on("error", () => {});
    req.write(Uint8Array.of(0, 0, 0, 0, 100)); // an envelope header; its message never comes
    const [res] = (await until(req, "response", 10_000, "answer")) as [http.IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    // Connect streaming answers with its end-stream message (a 5-byte envelope header first).
    const end = JSON.parse(Buffer.concat(chunks).subarray(5).toString()) as {
      error?: { code?: string; details?: { debug?: { reason?: string } }[] };
    };
    expect([end.error?.code, end.error?.details?.[0]?.debug?.reason]).toEqual([
      "deadline_exceeded",
      "ERROR_REASON_REQUEST_TIMEOUT",
    ]);
  });
});
