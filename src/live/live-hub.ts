import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import {
  type RoomMembershipChange,
  RoomMembershipChangeSchema,
} from "../gen/im/internal/v1/live_pb.js";
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
  /**
   * The chat rooms (AVChatRoom groups) a user is in, read when the user's first
   * stream opens on this node. Without it no stream receives room traffic.
   */
  roomsOf?: (userId: string) => Promise<readonly string[]>;
}

/** Delivers events to users' live device streams, on whichever node holds them. */
export interface LiveHub {
  /** At-most-once delivery to every open stream of `userId`, on any node. */
  publishToUser(userId: string, event: SubscribeResponse): void;
  /** The same to each of `userIds`, the event encoded once (group fan-out). */
  publishToUsers(userIds: Iterable<string>, event: SubscribeResponse): void;
  /**
   * At-most-once delivery to every open stream of the room's members, on any
   * node, through the room's one subject: no member list is expanded.
   */
  publishToRoom(roomId: string, event: SubscribeResponse): void;
  /** Tells every node that `userId` entered (or left) `roomId`, so its open streams follow. */
  changeRoomMembership(roomId: string, userId: string, entered: boolean): void;
  /** Tells every node that the room is gone: no stream receives its traffic any more. */
  closeRoom(roomId: string): void;
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

interface UserEntry {
  devices: Set<DeviceQueue>;
  unsubscribe: () => void;
  /** Rooms whose traffic this node feeds to the user's devices. */
  rooms: Set<string>;
}

export function createLiveHub(deps: LiveHubDeps): LiveHub {
  const { bus, clock, logger } = deps;
  // Per user on this node: its devices and the one bus subscription that feeds them.
  const users = new Map<string, UserEntry>();
  // Per room on this node: the local users in it and the one subscription for all of them.
  const rooms = new Map<string, { userIds: Set<string>; unsubscribe: () => void }>();

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
        const event = decodeEvent(data, { userId });
        if (event === undefined) return;
        for (const device of devices) enqueue(device, event);
      });
      entry = { devices, unsubscribe, rooms: new Set() };
      users.set(userId, entry);
    }
    entry.devices.add(queue);
    return entry;
  };

  // A group fan-out publishes the same bytes to every member's subject back to
  // back, so this node receives them one after another: decoding the last payload
  // once and sharing the event (never mutated after decoding) saves a decode and a
  // queued object per delivery (10,000 of each per message to a 10,000-member
  // group). Only the latest payload is kept, copied (the bus may reuse its buffer).
  let lastPayload: Buffer | undefined;
  let lastEvent: SubscribeResponse | undefined;
  const decodeEvent = (data: Uint8Array, what: Record<string, string>) => {
    const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (lastEvent !== undefined && lastPayload?.equals(payload)) return lastEvent;
    try {
      lastEvent = fromBinary(SubscribeResponseSchema, data);
      lastPayload = Buffer.from(payload);
      return lastEvent;
    } catch (err) {
      lastEvent = undefined;
      lastPayload = undefined;
      logger.warn("undecodable live event dropped", { ...what, err });
      return undefined;
    }
  };

  const enterLocally = (roomId: string, userId: string) => {
    const entry = users.get(userId);
    if (entry === undefined || entry.rooms.has(roomId)) return;
    entry.rooms.add(roomId);
    let room = rooms.get(roomId);
    if (room === undefined) {
      const userIds = new Set<string>();
      const unsubscribe = bus.subscribeLive(bus.registry.liveRoomSubject(roomId), (data) => {
        const event = decodeEvent(data, { roomId });
        if (event === undefined) return;
        for (const id of userIds) {
          for (const device of users.get(id)?.devices ?? []) enqueue(device, event);
        }
      });
      room = { userIds, unsubscribe };
      rooms.set(roomId, room);
    }
    room.userIds.add(userId);
  };

  const leaveLocally = (roomId: string, userId: string) => {
    users.get(userId)?.rooms.delete(roomId);
    const room = rooms.get(roomId);
    if (room === undefined) return;
    room.userIds.delete(userId);
    if (room.userIds.size === 0) {
      room.unsubscribe();
      rooms.delete(roomId);
    }
  };

  // Room entries and exits happen on whichever node served the request.
  bus.subscribeLive(bus.registry.liveRoomMembershipSubject, (data) => {
    let change: RoomMembershipChange;
    try {
      change = fromBinary(RoomMembershipChangeSchema, data);
    } catch (err) {
      logger.warn("undecodable room membership change dropped", { err });
      return;
    }
    if (change.userId === "") {
      for (const userId of [...(rooms.get(change.roomId)?.userIds ?? [])]) {
        leaveLocally(change.roomId, userId);
      }
    } else if (change.entered) enterLocally(change.roomId, change.userId);
    else leaveLocally(change.roomId, change.userId);
  });
  const publishRoomChange = (roomId: string, userId: string, entered: boolean) =>
    bus.publishLive(
      bus.registry.liveRoomMembershipSubject,
      toBinary(
        RoomMembershipChangeSchema,
        create(RoomMembershipChangeSchema, { roomId, userId, entered }),
      ),
    );

  /** A user's first stream on this node: follow the rooms the user is in. */
  const followRooms = async (userId: string, entry: UserEntry) => {
    if (deps.roomsOf === undefined) return;
    try {
      const roomIds = await deps.roomsOf(userId);
      if (users.get(userId) !== entry) return;
      for (const roomId of roomIds) enterLocally(roomId, userId);
    } catch (err) {
      logger.warn("could not read the user's rooms; no room traffic on this stream", {
        userId,
        err,
      });
    }
  };

  const detach = (userId: string, queue: DeviceQueue) => {
    const entry = users.get(userId);
    if (entry === undefined) return;
    entry.devices.delete(queue);
    if (entry.devices.size === 0) {
      entry.unsubscribe();
      for (const roomId of [...entry.rooms]) leaveLocally(roomId, userId);
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

    publishToUsers(userIds, event) {
      const data = toBinary(SubscribeResponseSchema, event);
      for (const userId of userIds) bus.publishLive(bus.registry.liveUserSubject(userId), data);
    },

    publishToRoom(roomId, event) {
      bus.publishLive(
        bus.registry.liveRoomSubject(roomId),
        toBinary(SubscribeResponseSchema, event),
      );
    },

    changeRoomMembership: publishRoomChange,
    closeRoom: (roomId) => publishRoomChange(roomId, "", false),

    async *stream(userId, signal) {
      const queue: DeviceQueue = { events: [], wake: undefined, overflowed: false };
      const firstHere = !users.has(userId);
      const entry = attach(userId, queue);
      const onAbort = () => queue.wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        if (firstHere) await followRooms(userId, entry);
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
