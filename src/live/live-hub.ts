import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { Logger } from "../log/logger.js";

export interface LiveHubDeps {
  bus: Pick<Bus, "publishLive" | "subscribeLive" | "flushLive" | "registry">;
  clock: Clock;
  logger: Logger;
  /** Keep-alive interval of idle streams. */
  keepAliveMs: number;
  /** Events a device may fall behind before its stream is closed (it must resync). */
  maxQueuedEvents: number;
}

/** Delivers events to users' live device streams, on whichever node holds them. */
export interface LiveHub {
  /** At-most-once delivery to every open stream of `userId`, on any node. */
  publishToUser(userId: string, event: SubscribeResponse): void;
  /**
   * A device's stream: Ready first, then every event published to the user
   * until `signal` aborts (client gone or server shutting down).
   */
  stream(userId: string, signal: AbortSignal): AsyncGenerator<SubscribeResponse>;
  /** Streams open on this node. */
  openStreams(): number;
}

interface DeviceQueue {
  events: SubscribeResponse[];
  wake: (() => void) | undefined;
  overflowed: boolean;
}

export function createLiveHub(deps: LiveHubDeps): LiveHub {
  const { bus, clock, logger } = deps;
  // Per user on this node: its devices and the one bus subscription that feeds them.
  const users = new Map<string, { devices: Set<DeviceQueue>; unsubscribe: () => void }>();

  const enqueue = (queue: DeviceQueue, event: SubscribeResponse) => {
    if (queue.events.length >= deps.maxQueuedEvents) queue.overflowed = true;
    else queue.events.push(event);
    queue.wake?.();
  };

  const attach = (userId: string, queue: DeviceQueue) => {
    let entry = users.get(userId);
    if (entry === undefined) {
      const devices = new Set<DeviceQueue>();
      const unsubscribe = bus.subscribeLive(bus.registry.liveUserSubject(userId), (data) => {
        let event: SubscribeResponse;
        try {
          event = fromBinary(SubscribeResponseSchema, data);
        } catch (err) {
          logger.warn("undecodable live event dropped", { userId, err });
          return;
        }
        for (const device of devices) enqueue(device, event);
      });
      entry = { devices, unsubscribe };
      users.set(userId, entry);
    }
    entry.devices.add(queue);
  };

  const detach = (userId: string, queue: DeviceQueue) => {
    const entry = users.get(userId);
    if (entry === undefined) return;
    entry.devices.delete(queue);
    if (entry.devices.size === 0) {
      entry.unsubscribe();
      users.delete(userId);
    }
  };

  return {
    publishToUser(userId, event) {
      bus.publishLive(
        bus.registry.liveUserSubject(userId),
        toBinary(SubscribeResponseSchema, event),
      );
    },

    async *stream(userId, signal) {
      const queue: DeviceQueue = { events: [], wake: undefined, overflowed: false };
      attach(userId, queue);
      const onAbort = () => queue.wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        // Ready promises that later events reach this stream, whichever node publishes them.
        await bus.flushLive();
        yield ready(clock(), deps.keepAliveMs);
        while (!signal.aborted) {
          if (queue.overflowed) {
            throw new DomainError(
              "resource-exhausted",
              ErrorReason.STREAM_OVERFLOW,
              "stream fell behind; reconnect and sync",
            );
          }
          const next = queue.events.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          const woke = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), deps.keepAliveMs);
            queue.wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          queue.wake = undefined;
          if (!woke && !signal.aborted) yield keepAlive(clock());
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        detach(userId, queue);
      }
    },

    openStreams: () => {
      let n = 0;
      for (const entry of users.values()) n += entry.devices.size;
      return n;
    },
  };
}

const ready = (now: number, keepAliveMs: number): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: {
      case: "ready",
      value: { serverTimeMs: BigInt(now), keepAliveIntervalMs: keepAliveMs },
    },
  });

const keepAlive = (now: number): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: { case: "keepAlive", value: { serverTimeMs: BigInt(now) } },
  });
