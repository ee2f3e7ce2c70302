import http from "node:http";
import http2 from "node:http2";
import type { Socket } from "node:net";
import net from "node:net";
import type { TransportLimits } from "../config/transport-limits.js";
import type { Logger } from "../log/logger.js";
import { createConnectionGate } from "./connection-gate.js";
import { type H2SessionWatch, watchH2Session } from "./h2-session-watch.js";

type Handler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export type StreamHandler = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => boolean;

export interface ListenOptions {
  handler: Handler;
  /**
   * Offered every HTTP/2 stream before Node's compatibility layer makes a
   * request/response pair of it: returns true when it serves the stream itself.
   */
  streamHandler?: StreamHandler;
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  limits: Omit<TransportLimits, "requestMaxBytes" | "batchRequestMaxBytes">;
  logger: Logger;
}

export interface Listener {
  port: number;
  /** Stops accepting connections; existing ones keep working. */
  stopAccepting(): void;
  /** Asks every connection to finish: GOAWAY on HTTP/2, close-when-idle on HTTP/1.1. */
  closeGracefully(): void;
  /** Resolves once no request is in flight (or after `timeoutMs`); returns true if none was. */
  drained(timeoutMs: number): Promise<boolean>;
  /** Cuts every remaining connection. */
  destroyAll(): void;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0");

type StreamListener = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

/**
 * Node makes its compatibility request/response pair in a "stream" listener
 * of the server (installed with the request handler). Those listeners now run
 * only for streams `take` leaves: a stream it serves costs no such objects.
 */
function routeStreamsFirst(
  server: http2.Http2Server | http2.Http2SecureServer,
  take: StreamHandler,
): void {
  const others = server.listeners("stream") as StreamListener[];
  server.removeAllListeners("stream");
  const route: StreamListener = (stream, headers, flags, rawHeaders) => {
    if (take(stream, headers)) return;
    for (const listener of others) listener.call(server, stream, headers, flags, rawHeaders);
  };
  server.on("stream", route);
}

/**
 * One port for everything. With TLS, ALPN chooses h2 or HTTP/1.1. Without TLS,
 * Node's http2 server cannot also speak HTTP/1.1, so we sniff the HTTP/2
 * connection preface on a plain TCP server and hand the socket to the right one:
 * gRPC and Connect over h2c, Connect and gRPC-Web over HTTP/1.1.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const { logger } = options;
  // Requests through the handler (HTTP/1.1, and HTTP/2 streams left to Connect);
  // HTTP/2 streams are counted by their session's watch, so a stream served by
  // the stream handler costs no listener of its own for this.
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const sessions = new Map<http2.ServerHttp2Session, H2SessionWatch>();
  const idle = () => {
    if (inFlight > 0) return false;
    for (const watch of sessions.values()) if (watch.openStreams > 0) return false;
    return true;
  };
  const checkIdle = () => {
    if (onIdle !== undefined && idle()) onIdle();
  };
  const settled = () => {
    inFlight--;
    checkIdle();
  };
  const handler: Handler = (req, res) => {
    inFlight++;
    res.once("close", settled);
    options.handler(req, res);
  };

  const { limits } = options;
  const gate = createConnectionGate({
    maxConnections: limits.maxConnections,
    firstByteTimeoutMs: limits.headersTimeoutMs,
    logger,
  });
  const h2Options: http2.ServerOptions = {
    settings: { maxConcurrentStreams: limits.h2MaxConcurrentStreams },
  };
  const h1Timeouts = {
    headersTimeout: limits.headersTimeoutMs,
    // Node's own cap on receiving a whole request; the node handler's body
    // timeout (with a proper error) normally fires first. Requests whose body
    // has arrived (a Subscribe stream) are not affected.
    requestTimeout: limits.headersTimeoutMs + limits.requestBodyTimeoutMs + 1000,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };

  let h1: http.Server | undefined;
  let h2: http2.Http2Server | http2.Http2SecureServer;
  let acceptor: net.Server;
  if (options.tls) {
    h2 = http2.createSecureServer(
      {
        ...options.tls,
        ...h2Options,
        allowHTTP1: true,
        handshakeTimeout: limits.headersTimeoutMs,
      },
      handler,
    );
    Object.assign(h2, h1Timeouts);
    acceptor = h2;
    h2.on("connection", (socket: Socket) => {
      if (gate.admit(socket)) socket.setKeepAlive(true, limits.h2PingIntervalMs);
    });
    h2.on("secureConnection", (socket: Socket) => gate.spoke(socket));
  } else {
    h1 = http.createServer(h1Timeouts, handler);
    // Node enforces headersTimeout and requestTimeout only for servers that
    // listened (it starts tracking connections on "listening"); this one gets
    // its sockets from the sniffer, so start the tracking by hand.
    h1.emit("listening");
    h2 = http2.createServer(h2Options, handler);
    const plainH1 = h1;
    const plainH2 = h2;
    acceptor = net.createServer((socket) => {
      if (!gate.admit(socket)) return;
      socket.setKeepAlive(true, limits.h2PingIntervalMs);
      socket.once("error", (err) => logger.debug("socket error before protocol sniff", { err }));
      socket.once("readable", () => {
        const head: Buffer | null = socket.read();
        if (head === null) return;
        gate.spoke(socket);
        socket.unshift(head);
        const isH2 = head
          .subarray(0, H2_PREFACE.length)
          .equals(H2_PREFACE.subarray(0, head.length));
        (isH2 ? plainH2 : plainH1).emit("connection", socket);
      });
    });
  }
  if (options.streamHandler !== undefined) routeStreamsFirst(h2, options.streamHandler);
  h2.on("session", (session: http2.ServerHttp2Session) => {
    const watch = watchH2Session(session, {
      idleTimeoutMs: limits.idleTimeoutMs,
      pingIntervalMs: limits.h2PingIntervalMs,
      logger,
      onStreamsClosed: checkIdle,
    });
    sessions.set(session, watch);
    session.once("close", () => {
      sessions.delete(session);
      checkIdle();
    });
  });

  await new Promise<void>((resolve, reject) => {
    acceptor.once("error", reject);
    acceptor.listen(options.port, options.host, () => {
      acceptor.off("error", reject);
      resolve();
    });
  });
  const address = acceptor.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;

  return {
    port,
    stopAccepting() {
      acceptor.close();
      // Stops Node's connection-checking timer of the sniffed HTTP/1.1 server.
      h1?.close(() => {});
    },
    closeGracefully() {
      for (const session of sessions.keys()) session.close();
      h1?.closeIdleConnections();
      // HTTP/1.1 keep-alive connections close once their current response ends.
      h1?.on("request", (_req, res) => res.setHeader("connection", "close"));
    },
    drained: (timeoutMs) =>
      idle()
        ? Promise.resolve(true)
        : new Promise((resolve) => {
            const timer = setTimeout(() => resolve(false), timeoutMs);
            onIdle = () => {
              clearTimeout(timer);
              resolve(true);
            };
          }),
    destroyAll() {
      for (const session of [...sessions.keys()]) session.destroy();
      for (const socket of gate.sockets()) socket.destroy();
    },
  };
}
