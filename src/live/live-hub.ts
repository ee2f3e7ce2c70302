import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import {
  type GroupLiveEvent,
  GroupLiveEventSchema,
  type GroupMembershipChange,
  GroupMembershipChangeSchema,
} from "../gen/im/internal/v1/live_pb.js";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { Logger } from "../log/logger.js";

/** A group a user's streams follow, and whether the user discards its messages. */
export interface FollowedGroup {
  groupId: string;
  discarding: boolean;
}

export interface LiveHubDeps {
  bus: Pick<Bus, "publishLive" | "subscribeLive" | "flushLive" | "registry">;
  clock: Clock;
  logger: Logger;
  /** Keep-alive interval of idle streams. */
  keepAliveMs: number;
  /** Events a device may fall behind before its stream is closed (it must resync). */
  maxQueuedEvents: number;
  /**
   * The groups a user is a member of, read when the user's first stream opens
   * on this node. Without it no stream receives group traffic.
   */
  groupsOf?: (userId: string) => Promise<readonly FollowedGroup[]>;
}

export interface GroupPublishOptions {
  /** Members who do not get it (the sender's own devices, users told directly). */
  exceptUserIds?: readonly string[];
  /** A message, not a tip: members discarding the group's messages do not get it. */
  skipDiscarding?: boolean;
}

/** Delivers events to users' live device streams, on whichever node holds them. */
export interface LiveHub {
  /** At-most-once delivery to every open stream of `userId`, on any node. */
  publishToUser(userId: string, event: SubscribeResponse): void;
  /** The same to each of `userIds`, the event encoded once. */
  publishToUsers(userIds: Iterable<string>, event: SubscribeResponse): void;
  /**
   * At-most-once delivery to every open stream of the group's members, on any
   * node: one publish per group, never an expanded member list. Each node
   * knows which of its users are members (read at stream open, then followed).
   */
  publishToGroup(groupId: string, event: SubscribeResponse, options?: GroupPublishOptions): void;
  /**
   * Tells every node that users joined (member) or left a group, or changed
   * whether they discard its messages, so their open streams follow.
   */
  changeGroupMembership(groupId: string, userId: string, change: FollowedChange): void;
  /** Tells every node that the group is gone: no stream receives its traffic any more. */
  closeGroup(groupId: string): void;
  /**
   * A device's stream: Ready first, then every event published to the user
   * until `signal` aborts (client gone or server shutting down).
   */
  stream(userId: string, signal: AbortSignal): AsyncGenerator<SubscribeResponse>;
  /** Streams open on this node. */
  openStreams(): number;
}

export type FollowedChange = { member: false } | { member: true; discarding: boolean };

interface DeviceQueue {
  events: SubscribeResponse[];
  wake: (() => void) | undefined;
  overflowed: boolean;
}

interface UserEntry {
  devices: Set<DeviceQueue>;
  unsubscribe: () => void;
  /** Groups whose traffic this node feeds to the user's devices. */
  groups: Set<string>;
  /**
   * While the user's groups are being read at stream open: the changes seen
   * meanwhile, applied after the read because they are newer than it.
   */
  changesDuringRead: GroupMembershipChange[] | undefined;
}

export function createLiveHub(deps: LiveHubDeps): LiveHub {
  const { bus, clock, logger } = deps;
  // Per user on this node: its devices and the one bus subscription that feeds them.
  const users = new Map<string, UserEntry>();
  // Per group: this node's users in it, and whether each discards its messages.
  const groups = new Map<string, Map<string, boolean>>();

  // Waking thousands of streams at once would run all their writes in one
  // unbroken chain of microtasks, and every other request (a send waiting for
  // its store replies) would wait behind a 10,000-member delivery. Streams are
  // woken WAKE_BATCH at a time, one batch per event-loop turn, so I/O runs between.
  const toWake = new Set<DeviceQueue>();
  const wakeBatch = () => {
    let woken = 0;
    for (const queue of toWake) {
      toWake.delete(queue);
      queue.wake?.();
      if (++woken === WAKE_BATCH) break;
    }
    if (toWake.size > 0) setImmediate(wakeBatch);
  };
  const enqueue = (queue: DeviceQueue, event: SubscribeResponse) => {
    if (queue.events.length >= deps.maxQueuedEvents) queue.overflowed = true;
    else queue.events.push(event);
    if (queue.wake === undefined) return; // busy: it takes the event when it looks next
    if (toWake.size === 0) setImmediate(wakeBatch);
    toWake.add(queue);
  };

  const decodeEvent = (data: Uint8Array, what: Record<string, string>) => {
    try {
      return fromBinary(SubscribeResponseSchema, data);
    } catch (err) {
      logger.warn("undecodable live event dropped", { ...what, err });
      return undefined;
    }
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
      entry = { devices, unsubscribe, groups: new Set(), changesDuringRead: undefined };
      users.set(userId, entry);
    }
    entry.devices.add(queue);
    return entry;
  };

  const follow = (groupId: string, userId: string, discarding: boolean) => {
    const entry = users.get(userId);
    if (entry === undefined) return;
    entry.groups.add(groupId);
    let members = groups.get(groupId);
    if (members === undefined) {
      members = new Map();
      groups.set(groupId, members);
    }
    members.set(userId, discarding);
  };

  const unfollow = (groupId: string, userId: string) => {
    users.get(userId)?.groups.delete(groupId);
    const members = groups.get(groupId);
    if (members === undefined) return;
    members.delete(userId);
    if (members.size === 0) groups.delete(groupId);
  };

  const applyChange = (change: GroupMembershipChange) => {
    if (change.userId === "") {
      for (const userId of [...(groups.get(change.groupId)?.keys() ?? [])]) {
        unfollow(change.groupId, userId);
      }
    } else if (change.member) follow(change.groupId, change.userId, change.discarding);
    else unfollow(change.groupId, change.userId);
  };

  // One subscription per node carries every group's traffic: nothing to
  // subscribe when a member's stream opens, so no event can slip past a
  // subscription still on its way to the server.
  bus.subscribeLive(bus.registry.liveGroupsSubject, (data) => {
    let envelope: GroupLiveEvent;
    try {
      envelope = fromBinary(GroupLiveEventSchema, data);
    } catch (err) {
      logger.warn("undecodable group live event dropped", { err });
      return;
    }
    const members = groups.get(envelope.groupId);
    if (members === undefined) return;
    const event = decodeEvent(envelope.event, { groupId: envelope.groupId });
    if (event === undefined) return;
    const except = new Set(envelope.exceptUserIds);
    for (const [userId, discarding] of members) {
      if (except.has(userId) || (discarding && envelope.skipDiscarding)) continue;
      for (const device of users.get(userId)?.devices ?? []) enqueue(device, event);
    }
  });

  // Joins and exits happen on whichever node served the request.
  bus.subscribeLive(bus.registry.liveGroupMembershipSubject, (data) => {
    let change: GroupMembershipChange;
    try {
      change = fromBinary(GroupMembershipChangeSchema, data);
    } catch (err) {
      logger.warn("undecodable group membership change dropped", { err });
      return;
    }
    const pending = users.get(change.userId)?.changesDuringRead;
    if (pending !== undefined) pending.push(change);
    applyChange(change);
  });

  /** A user's first stream on this node: follow the groups the user is in. */
  const followGroups = async (userId: string, entry: UserEntry) => {
    if (deps.groupsOf === undefined) return;
    entry.changesDuringRead = [];
    try {
      const followed = await deps.groupsOf(userId);
      if (users.get(userId) !== entry) return;
      for (const g of followed) follow(g.groupId, userId, g.discarding);
      for (const change of entry.changesDuringRead) applyChange(change);
    } catch (err) {
      logger.warn("could not read the user's groups; no group traffic on this stream", {
        userId,
        err,
      });
    } finally {
      entry.changesDuringRead = undefined;
    }
  };

  const detach = (userId: string, queue: DeviceQueue) => {
    const entry = users.get(userId);
    if (entry === undefined) return;
    entry.devices.delete(queue);
    if (entry.devices.size === 0) {
      entry.unsubscribe();
      for (const groupId of [...entry.groups]) unfollow(groupId, userId);
      users.delete(userId);
    }
  };

  const publishChange = (groupId: string, userId: string, member: boolean, discarding: boolean) =>
    bus.publishLive(
      bus.registry.liveGroupMembershipSubject,
      toBinary(
        GroupMembershipChangeSchema,
        create(GroupMembershipChangeSchema, { groupId, userId, member, discarding }),
      ),
    );

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

    publishToGroup(groupId, event, options = {}) {
      bus.publishLive(
        bus.registry.liveGroupsSubject,
        toBinary(
          GroupLiveEventSchema,
          create(GroupLiveEventSchema, {
            groupId,
            event: toBinary(SubscribeResponseSchema, event),
            exceptUserIds: [...(options.exceptUserIds ?? [])],
            skipDiscarding: options.skipDiscarding ?? false,
          }),
        ),
      );
    },

    changeGroupMembership: (groupId, userId, change) =>
      publishChange(groupId, userId, change.member, change.member && change.discarding),
    closeGroup: (groupId) => publishChange(groupId, "", false, false),

    async *stream(userId, signal) {
      const queue: DeviceQueue = { events: [], wake: undefined, overflowed: false };
      const firstHere = !users.has(userId);
      const entry = attach(userId, queue);
      const onAbort = () => queue.wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        if (firstHere) await followGroups(userId, entry);
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

/** Streams woken per event-loop turn. */
const WAKE_BATCH = 256;

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
