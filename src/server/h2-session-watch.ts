import type http2 from "node:http2";
import type { Logger } from "../log/logger.js";

export interface H2SessionWatch {
  /** The session's streams not yet closed. */
  readonly openStreams: number;
}

/**
 * Keeps an HTTP/2 connection honest: closed (GOAWAY) once no stream has been
 * open for `idleTimeoutMs` — a Subscribe stream keeps it open however quiet —
 * and cut when a PING is not answered within `pingIntervalMs`, so a vanished
 * peer does not hold its streams and socket forever.
 */
export function watchH2Session(
  session: http2.ServerHttp2Session,
  options: {
    idleTimeoutMs: number;
    pingIntervalMs: number;
    logger: Logger;
    /** Called when the session's last open stream has closed. */
    onStreamsClosed?: () => void;
  },
): H2SessionWatch {
  const watch = { openStreams: 0 };
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (watch.openStreams === 0 && !session.closed) session.close();
    }, options.idleTimeoutMs);
    idleTimer.unref();
  };
  armIdle();
  // One listener per session, shared by its streams: `once` would make a wrapper
  // (and this a closure) per stream, ~160 B each for the stream's whole life.
  const onStreamClose = () => {
    watch.openStreams--;
    if (watch.openStreams > 0) return;
    armIdle();
    options.onStreamsClosed?.();
  };
  session.on("stream", (stream) => {
    watch.openStreams++;
    clearTimeout(idleTimer);
    // "close" comes once per stream.
    stream.on("close", onStreamClose);
  });

  let awaitingPong = false;
  const pinger = setInterval(() => {
    if (session.closed || session.destroyed) return;
    if (awaitingPong) {
      options.logger.info("HTTP/2 peer did not answer a PING; closing its connection");
      session.destroy();
      return;
    }
    awaitingPong = true;
    try {
      session.ping((err) => {
        if (err === null) awaitingPong = false;
      });
    } catch {
      awaitingPong = false;
    }
  }, options.pingIntervalMs);
  pinger.unref();
  session.once("close", () => {
    clearTimeout(idleTimer);
    clearInterval(pinger);
  });
  return watch;
}
