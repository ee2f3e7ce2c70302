import type { Socket } from "node:net";
import type { Logger } from "../log/logger.js";

export interface ConnectionGate {
  /** Takes a new socket in, or closes it when the cap is reached; false if closed. */
  admit(socket: Socket): boolean;
  /** The socket sent its first byte: no longer evictable, no first-byte deadline. */
  spoke(socket: Socket): void;
  /** Every socket still open. */
  sockets(): Iterable<Socket>;
}

/**
 * Bounds open connections. A socket must send its first byte within
 * `firstByteTimeoutMs` or is closed. At the cap, the oldest socket that has not
 * sent a byte yet is closed to make room (so a flood of silent sockets cannot
 * lock real clients out); when every socket has spoken, the new one is closed
 * at accept.
 */
export function createConnectionGate(options: {
  maxConnections: number;
  firstByteTimeoutMs: number;
  logger: Logger;
}): ConnectionGate {
  const open = new Set<Socket>();
  // Insertion order is accept order: the first entry is the oldest silent socket.
  const silent = new Map<Socket, NodeJS.Timeout>();
  let refused = 0;
  let lastRefusalLog = 0;

  const forget = (socket: Socket) => {
    open.delete(socket);
    clearTimeout(silent.get(socket));
    silent.delete(socket);
  };

  return {
    admit(socket) {
      if (open.size >= options.maxConnections) {
        const oldestSilent = silent.keys().next();
        if (oldestSilent.done === true) {
          socket.destroy();
          refused++;
          const now = Date.now();
          if (now - lastRefusalLog > 10_000) {
            lastRefusalLog = now;
            options.logger.warn("connection limit reached: refusing new connections", {
              maxConnections: options.maxConnections,
              refused,
            });
          }
          return false;
        }
        forget(oldestSilent.value);
        oldestSilent.value.destroy();
      }
      open.add(socket);
      const timer = setTimeout(() => socket.destroy(), options.firstByteTimeoutMs);
      timer.unref();
      silent.set(socket, timer);
      socket.once("close", () => forget(socket));
      return true;
    },
    spoke(socket) {
      clearTimeout(silent.get(socket));
      silent.delete(socket);
    },
    sockets: () => open,
  };
}
