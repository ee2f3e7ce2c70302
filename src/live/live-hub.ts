import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sigExpired, sigRevoked } from "../auth/caller.js";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import { flat } from "../common/flat-string.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import {
  type AuthorityChange,
  AuthorityChangeSchema,
  type DeviceSessionEnd,
  DeviceSessionEndSchema,
  type DeviceStreamClaim,
  DeviceStreamClaimSchema,
  type GroupLiveEvent,
  GroupLiveEventSchema,
  type GroupMembershipChange,
  GroupMembershipChangeSchema,
} from "../gen/im/internal/v1/live_pb.js";
import {
  type Platform,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../gen/im/v1/events_pb.js";
import type { Logger } from "../log/logger.js";
import {
  type DeviceSlots,
  deviceCount,
  deviceDelete,
  deviceGet,
  deviceSet,
  deviceStreams,
} from "./device-slots.js";

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
   * Devices of one user that may stream at once on this node; one more is
   * refused (STREAM_LIMIT_REACHED). A device that reconnects replaces its own
   * stream and is never refused.
   */
  maxStreamsPerUser: number;
  /** How often open streams are checked for an expired UserSig. */
  authorityCheckMs: number;
  /**
   * The groups a user is a member of, read when the user's first stream opens
   * on this node. Without it no stream receives group traffic.
   */
  groupsOf?: (userId: string) => Promise<readonly FollowedGroup[]>;
  /** The most time one event-loop turn spends waking streams (default WAKE_TURN_MS). */
  wakeTurnMs?: number;
}

export interface GroupPublishOptions {
  /** Members who do not get it (the sender's own devices, users told directly). */
  exceptUserIds?: readonly string[];
  /** A message, not a tip: members discarding the group's messages do not get it. */
  skipDiscarding?: boolean;
}

/** Whose a stream is, and the UserSig it was opened with: the stream lives as long as the sig. */
export interface StreamOwner {
  userId: string;
  /** SubscribeRequest.device_id: a newer stream of the same device replaces this one. */
  deviceId: string;
  /** SubscribeRequest.platform (validated). */
  platform: Platform;
  sigIssuedAtMs: number;
  sigExpiresAtMs: number;
}

/**
 * Where changes of a user's authority come from (accounts), told to every
 * node so that streams opened with a sig that no longer authenticates end.
 */
export interface StreamAuthority {
  /** Sigs of `userId` issued at or before `beforeMs` are invalid: their streams end (SIG_REVOKED). */
  sigsInvalidated(userId: string, beforeMs: number): void;
  /** The accounts were deleted at `atMs`: all their streams end (ACCOUNT_NOT_FOUND). */
  accountsDeleted(userIds: readonly string[], atMs: number): void;
}

/**
 * Told when a device's stream opens and ends on this node (presence). `opened` runs
 * before Ready and must neither throw nor block it: its writes go on in the background.
 */
export interface SessionObserver {
  /** `openedAtMs`: the stream's place in the device's order across nodes (newer wins). */
  opened(owner: StreamOwner, streamId: string, openedAtMs: number): void;
  /** `endedWith`: the server's reason, or undefined when the client left or the node shuts down. */
  closed(owner: StreamOwner, streamId: string, endedWith: DomainError | undefined): void;
}

/** How the server ends a device's session (`LiveHub.endSession`). */
export interface SessionEnd {
  userId: string;
  deviceId: string;
  /** Only this stream of the device; undefined: whichever it holds. */
  streamId?: string;
  /** Sent on the stream just before it ends. */
  lastEvent?: SubscribeResponse;
  /** The error the stream ends with. */
  reason: ErrorReason.KICKED_OFFLINE | ErrorReason.LOGGED_OUT;
}

/** Delivers events to users' live device streams, on whichever node holds them. */
export interface LiveHub extends StreamAuthority {
  /** Sets the one observer of this node's stream openings and endings. */
  observeSessions(observer: SessionObserver): void;
  /** Ends a device's stream on whichever node holds it: its last event, then the reason. */
  endSession(end: SessionEnd): void;
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
   * until `signal` aborts (client gone or server shutting down), or until the
   * server ends it with an error: replaced by a newer stream of the same device
   * on any node (Aborted, STREAM_REPLACED), the owner's sig expired or revoked
   * or the account deleted (Unauthenticated), or the reader fell behind
   * (STREAM_OVERFLOW). Refused past the per-user cap (STREAM_LIMIT_REACHED).
   */
  stream(owner: StreamOwner, signal: AbortSignal): AsyncGenerator<SubscribeResponse>;
  /**
   * The same stream driven by the hub, for a writer that keeps no task per
   * stream: registers it, writes Ready to `sink` and resolves with its handle.
   * From then on the hub writes every event (coalesced while the sink is full)
   * and keep-alives to `sink`, and calls `sink.end` when it ends the stream
   * with an error. Rejects, having written nothing, when the stream is refused
   * or ended while opening.
   */
  open(owner: StreamOwner, sink: LiveSink): Promise<LiveStreamHandle>;
  /** The sink that returned false from `write` takes more again. */
  resume(stream: LiveStreamHandle): void;
  /** The writer ends the stream (client gone, deadline, shutdown): the hub forgets it, `sink.end` is not called. */
  close(stream: LiveStreamHandle): void;
  /** Streams open on this node. */
  openStreams(): number;
}

/**
 * One live event as streams get it. Its binary encoding is made once (it is
 * what the bus carried) and every stream writes the same bytes; a writer may
 * cache its framings of the event in `framed`, so each is made once per node.
 */
export interface LiveEvent {
  readonly message: SubscribeResponse;
  readonly binary: Uint8Array;
  readonly framed: Map<string, Uint8Array>;
}

/**
 * Where the hub writes a stream's events. One object per stream, written to
 * only by the hub; it holds no task of its own.
 */
export interface LiveSink {
  /** Writes the events in one go; false when the transport is full: nothing more until `resume`. */
  write(events: readonly LiveEvent[]): boolean;
  /** The hub ended the stream with `error` (after writing any last events). */
  end(error: DomainError): void;
}

/** An open stream as its writer knows it (opaque). */
export interface LiveStreamHandle {
  readonly id: string;
}

export type FollowedChange = { member: false } | { member: true; discarding: boolean };

/**
 * The whole per-stream state: the hub drives the sink from here (no task,
 * timer or listener per stream).
 */
interface DeviceStream {
  owner: StreamOwner;
  /** Random; with openedAtMs orders two streams of one device across nodes. */
  id: string;
  openedAtMs: number;
  sink: LiveSink;
  /**
   * opening: registered, Ready not yet written (events queue); live: events go
   * to the sink; ending: ended by the server, its end not yet written; done.
   */
  phase: "opening" | "live" | "ending" | "done";
  /** Events not yet written: the sink is full, or the stream is waiting for its turn. */
  events: LiveEvent[];
  /** The sink returned false: events queue until it drains. */
  blocked: boolean;
  /** The keep-alive tick of the last write. */
  lastWriteTick: number;
  /** Set when the server ends the stream. */
  endedWith: DomainError | undefined;
  /** The events queued before `endedWith` still go out (a KickedOffline event). */
  drainBeforeEnd: boolean;
}

/** A user's sigs revoked or account deleted, remembered for streams still on their way in. */
interface RecentRevocation {
  beforeMs: number;
  deleted: boolean;
  receivedAtMs: number;
}

/** A user on this node; its streams by device id are the DeviceSlots (src/live/device-slots.ts). */
interface UserEntry extends DeviceSlots<DeviceStream> {
  unsubscribe: () => void;
  /** Groups whose traffic this node feeds to the user's devices (made at the first). */
  groups: Set<string> | undefined;
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
  let sessions: SessionObserver | undefined;

  // Waking thousands of streams at once would run all their writes in one
  // unbroken chain of microtasks, and every other request (a send waiting for
  // its store replies) would wait behind a 10,000-member delivery. Streams are
  // woken for at most WAKE_TURN_MS per event-loop turn, so I/O runs between. A
  // time bound, not a count: a fixed 256 per turn spread one 10,000-member message
  // over ~40 turns (each with its own poll and socket flushes): p50 626 ms to its
  // last member, against 202-240 ms with 15 ms turns (bench/README.md).
  const toWake = new Set<DeviceStream>();
  const wakeTurnMs = deps.wakeTurnMs ?? WAKE_TURN_MS;
  const wakeBatch = () => {
    const until = performance.now() + wakeTurnMs;
    let woken = 0;
    for (const stream of toWake) {
      toWake.delete(stream);
      step(stream);
      if (++woken % WAKE_CLOCK_EVERY === 0 && performance.now() >= until) break;
    }
    if (toWake.size > 0) setImmediate(wakeBatch);
  };
  const schedule = (stream: DeviceStream) => {
    if (toWake.size === 0) setImmediate(wakeBatch);
    toWake.add(stream);
  };
  /** A stream's turn: its queued events in one write, or its end. */
  const step = (stream: DeviceStream) => {
    if (stream.phase === "ending") {
      stream.phase = "done";
      if (stream.drainBeforeEnd && stream.events.length > 0) stream.sink.write(stream.events);
      stream.events = NO_EVENTS;
      const error = stream.endedWith ?? streamOverflowError();
      sessions?.closed(stream.owner, stream.id, error);
      stream.sink.end(error);
      return;
    }
    if (stream.phase !== "live" || stream.blocked || stream.events.length === 0) return;
    const batch = stream.events;
    stream.events = NO_EVENTS;
    stream.lastWriteTick = tick;
    if (!stream.sink.write(batch)) stream.blocked = true;
  };
  const enqueue = (stream: DeviceStream, event: LiveEvent) => {
    if (stream.events.length >= deps.maxQueuedEvents) {
      // Too far behind: it leaves the registry at once, so nothing more queues up for
      // a reader that may never read again.
      stream.events = NO_EVENTS;
      end(stream, streamOverflowError());
      return;
    }
    queueEvent(stream, event);
    // Busy or opening: it takes the event when it writes next.
    if (stream.phase === "live" && !stream.blocked && stream.events.length === 1) schedule(stream);
  };

  // Keep-alives: one timer for all streams. Every KEEPALIVE_TICKS-th of the
  // interval, streams that wrote nothing for the whole interval get one shared
  // keep-alive event (written in their turn, as events are).
  let tick = 0;
  let keepAliveTimer: NodeJS.Timeout | undefined;
  const keepAliveTick = () => {
    tick++;
    if (users.size === 0) {
      clearInterval(keepAliveTimer);
      keepAliveTimer = undefined;
      return;
    }
    let event: LiveEvent | undefined;
    for (const entry of users.values()) {
      for (const stream of deviceStreams(entry)) {
        if (stream.phase !== "live" || stream.blocked || stream.events.length > 0) continue;
        if (tick - stream.lastWriteTick < KEEPALIVE_TICKS) continue;
        event ??= ownEvent(keepAlive(clock()));
        queueEvent(stream, event);
        schedule(stream);
      }
    }
  };

  const decodeEvent = (data: Uint8Array, what: Record<string, string>): LiveEvent | undefined => {
    try {
      return {
        message: fromBinary(SubscribeResponseSchema, data),
        binary: data,
        framed: new Map(),
      };
    } catch (err) {
      logger.warn("undecodable live event dropped", { ...what, err });
      return undefined;
    }
  };

  // One handler serves every user's subscription; the subject says whose it is.
  const userOfSubject = new Map<string, string>();
  const onUserEvent = (data: Uint8Array, subject: string) => {
    const userId = userOfSubject.get(subject);
    const entry = userId === undefined ? undefined : users.get(userId);
    if (userId === undefined || entry === undefined) return;
    const event = decodeEvent(data, { userId });
    if (event === undefined) return;
    // A device is not told about its own login or logout.
    const about =
      event.message.event.case === "ownDeviceChanged"
        ? event.message.event.value.deviceId
        : undefined;
    for (const device of deviceStreams(entry)) {
      if (device.owner.deviceId !== about) enqueue(device, event);
    }
  };

  // Revocations and deletions of the last RECENT_REVOCATION_MS, oldest first:
  // a stream authenticated just before one but registered just after it must
  // not slip through.
  const recentRevocations = new Map<string, RecentRevocation>();
  const forgetOldRevocations = (now: number) => {
    for (const [userId, r] of recentRevocations) {
      if (r.receivedAtMs > now - RECENT_REVOCATION_MS) break;
      recentRevocations.delete(userId);
    }
  };

  // Expired sigs are found by a sweep while streams are open; it skips the
  // scan until the earliest expiry among the streams has come.
  let sweepTimer: NodeJS.Timeout | undefined;
  let nextExpiryMs = Number.POSITIVE_INFINITY;
  const sweep = () => {
    const now = clock();
    forgetOldRevocations(now);
    if (users.size === 0) {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
      nextExpiryMs = Number.POSITIVE_INFINITY;
      return;
    }
    if (!sigExpired(nextExpiryMs, now)) return;
    let next = Number.POSITIVE_INFINITY;
    for (const entry of users.values()) {
      for (const stream of deviceStreams(entry)) {
        const expiresAt = stream.owner.sigExpiresAtMs;
        if (sigExpired(expiresAt, now)) end(stream, sigExpiredError());
        else next = Math.min(next, expiresAt);
      }
    }
    nextExpiryMs = next;
  };

  /**
   * Ends a stream from the server side; it leaves the registry at once, and
   * its end is written in its turn (an opening stream is refused instead).
   */
  const end = (stream: DeviceStream, error: DomainError) => {
    if (stream.endedWith !== undefined || stream.phase === "done") return;
    stream.endedWith = error;
    release(stream);
    if (stream.phase !== "live") return;
    stream.phase = "ending";
    schedule(stream);
  };

  /**
   * Registers a new stream of a device, replacing the device's stream on this
   * node, and tells the other nodes so they end theirs. Throws if the owner's
   * authority is already gone or the user has too many devices streaming.
   */
  const register = (
    owner: StreamOwner,
    sink: LiveSink,
  ): { stream: DeviceStream; entry: UserEntry; firstHere: boolean } => {
    const { userId, deviceId } = owner;
    const now = clock();
    if (sigExpired(owner.sigExpiresAtMs, now)) throw sigExpiredError();
    const revoked = recentRevocations.get(userId);
    if (revoked !== undefined && sigRevoked(owner.sigIssuedAtMs, revoked.beforeMs)) {
      throw revocationError(revoked.deleted);
    }
    let entry = users.get(userId);
    const previous = entry === undefined ? undefined : deviceGet(entry, deviceId);
    if (
      entry !== undefined &&
      previous === undefined &&
      deviceCount(entry) >= deps.maxStreamsPerUser
    ) {
      throw new DomainError(
        "resource-exhausted",
        ErrorReason.STREAM_LIMIT_REACHED,
        `at most ${deps.maxStreamsPerUser} devices of a user may stream at once`,
      );
    }
    const firstHere = entry === undefined;
    if (entry === undefined) {
      // One handler for every user's subscription: no closure per user.
      const subject = flat(bus.registry.liveUserSubject(userId));
      userOfSubject.set(subject, userId);
      const unsubscribe = bus.subscribeLive(subject, onUserEvent);
      entry = {
        one: undefined,
        many: undefined,
        unsubscribe,
        groups: undefined,
        changesDuringRead: undefined,
      };
      users.set(userId, entry);
    }
    const stream: DeviceStream = {
      owner,
      // Kept by the stream and presence's record of it: flat, not randomUUID's rope.
      id: flat(randomUUID()),
      // Later than the stream it replaces, whatever the clock did: every node
      // must order the two the same way.
      openedAtMs: previous === undefined ? now : Math.max(now, previous.openedAtMs + 1),
      sink,
      phase: "opening",
      events: NO_EVENTS,
      blocked: false,
      lastWriteTick: tick,
      endedWith: undefined,
      drainBeforeEnd: false,
    };
    deviceSet(entry, stream);
    // The successor is registered first, so the end releases nothing: the
    // user's entry (and its groups) stays.
    if (previous !== undefined) end(previous, streamReplacedError());
    nextExpiryMs = Math.min(nextExpiryMs, owner.sigExpiresAtMs);
    if (sweepTimer === undefined) {
      sweepTimer = setInterval(sweep, deps.authorityCheckMs);
      sweepTimer.unref();
    }
    if (keepAliveTimer === undefined) {
      keepAliveTimer = setInterval(
        keepAliveTick,
        Math.max(1, Math.floor(deps.keepAliveMs / KEEPALIVE_TICKS)),
      );
      keepAliveTimer.unref();
    }
    bus.publishLive(
      bus.registry.liveDeviceClaimsSubject,
      toBinary(
        DeviceStreamClaimSchema,
        create(DeviceStreamClaimSchema, {
          userId,
          deviceId,
          openedAtMs: BigInt(stream.openedAtMs),
          streamId: stream.id,
        }),
      ),
    );
    return { stream, entry, firstHere };
  };

  /** Removes a stream from the registry, if still there; the user's last one takes the user's feeds along. */
  const release = (stream: DeviceStream) => {
    const { userId, deviceId } = stream.owner;
    const entry = users.get(userId);
    if (entry === undefined || deviceGet(entry, deviceId) !== stream) return;
    deviceDelete(entry, deviceId);
    if (deviceCount(entry) === 0) {
      entry.unsubscribe();
      userOfSubject.delete(bus.registry.liveUserSubject(userId));
      for (const groupId of [...(entry.groups ?? [])]) unfollow(groupId, userId);
      users.delete(userId);
    }
  };

  const follow = (groupId: string, userId: string, discarding: boolean) => {
    const entry = users.get(userId);
    if (entry === undefined) return;
    entry.groups ??= new Set();
    entry.groups.add(groupId);
    let members = groups.get(groupId);
    if (members === undefined) {
      members = new Map();
      groups.set(groupId, members);
    }
    members.set(userId, discarding);
  };

  const unfollow = (groupId: string, userId: string) => {
    users.get(userId)?.groups?.delete(groupId);
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
      const entry = users.get(userId);
      if (entry === undefined) continue;
      for (const device of deviceStreams(entry)) enqueue(device, event);
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

  // A device's stream opened on another node (or this one): an older stream
  // of the device here ends. Both nodes compare the same (opened at, id), so
  // of two streams opened at once exactly one survives.
  bus.subscribeLive(bus.registry.liveDeviceClaimsSubject, (data) => {
    let claim: DeviceStreamClaim;
    try {
      claim = fromBinary(DeviceStreamClaimSchema, data);
    } catch (err) {
      logger.warn("undecodable device stream claim dropped", { err });
      return;
    }
    const claimant = users.get(claim.userId);
    const mine = claimant === undefined ? undefined : deviceGet(claimant, claim.deviceId);
    if (mine === undefined || mine.id === claim.streamId) return;
    const claimedAt = Number(claim.openedAtMs);
    if (
      mine.openedAtMs < claimedAt ||
      (mine.openedAtMs === claimedAt && mine.id < claim.streamId)
    ) {
      end(mine, streamReplacedError());
    }
  });

  // The server ended a device's session (kicked, logged out) on whichever node served that.
  bus.subscribeLive(bus.registry.liveSessionEndsSubject, (data) => {
    let msg: DeviceSessionEnd;
    try {
      msg = fromBinary(DeviceSessionEndSchema, data);
    } catch (err) {
      logger.warn("undecodable session end dropped", { err });
      return;
    }
    const entry = users.get(msg.userId);
    const stream = entry === undefined ? undefined : deviceGet(entry, msg.deviceId);
    if (stream === undefined || (msg.streamId !== "" && msg.streamId !== stream.id)) return;
    if (stream.endedWith !== undefined || stream.phase === "done") return;
    if (msg.event.length > 0) {
      const event = decodeEvent(msg.event, { userId: msg.userId });
      if (event !== undefined) {
        queueEvent(stream, event);
        stream.drainBeforeEnd = true;
      }
    }
    end(stream, sessionEndError(msg.reason));
  });

  bus.subscribeLive(bus.registry.liveAuthoritySubject, (data) => {
    let change: AuthorityChange;
    try {
      change = fromBinary(AuthorityChangeSchema, data);
    } catch (err) {
      logger.warn("undecodable authority change dropped", { err });
      return;
    }
    const now = clock();
    const beforeMs = Number(change.sigsInvalidBeforeMs);
    for (const userId of change.userIds) {
      const earlier = recentRevocations.get(userId);
      recentRevocations.delete(userId); // re-inserted last: the map stays in arrival order
      recentRevocations.set(userId, {
        beforeMs: Math.max(beforeMs, earlier?.beforeMs ?? 0),
        deleted: change.deleted || (earlier?.deleted ?? false),
        receivedAtMs: now,
      });
      const entry = users.get(userId);
      if (entry === undefined) continue;
      for (const stream of deviceStreams(entry)) {
        // A deleted account ends every stream, even one whose sig claims a later issue time.
        if (change.deleted || sigRevoked(stream.owner.sigIssuedAtMs, beforeMs)) {
          end(stream, revocationError(change.deleted));
        }
      }
    }
    forgetOldRevocations(now);
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

  const publishAuthority = (userIds: readonly string[], beforeMs: number, deleted: boolean) =>
    bus.publishLive(
      bus.registry.liveAuthoritySubject,
      toBinary(
        AuthorityChangeSchema,
        create(AuthorityChangeSchema, {
          userIds: [...userIds],
          sigsInvalidBeforeMs: BigInt(beforeMs),
          deleted,
        }),
      ),
    );

  const publishChange = (groupId: string, userId: string, member: boolean, discarding: boolean) =>
    bus.publishLive(
      bus.registry.liveGroupMembershipSubject,
      toBinary(
        GroupMembershipChangeSchema,
        create(GroupMembershipChangeSchema, { groupId, userId, member, discarding }),
      ),
    );

  async function open(owner: StreamOwner, sink: LiveSink): Promise<LiveStreamHandle> {
    const { stream, entry, firstHere } = register(owner, sink);
    let observed = false;
    try {
      if (firstHere) await followGroups(owner.userId, entry);
      sessions?.opened(owner, stream.id, stream.openedAtMs);
      observed = true;
      // Ready promises that later events reach this stream, whichever node publishes them.
      await bus.flushLive();
      if (stream.endedWith !== undefined) throw stream.endedWith;
    } catch (err) {
      release(stream);
      stream.phase = "done";
      if (observed) sessions?.closed(stream.owner, stream.id, stream.endedWith);
      throw err;
    }
    stream.phase = "live";
    stream.lastWriteTick = tick;
    if (!sink.write([readyEvent(clock())])) stream.blocked = true;
    else if (stream.events.length > 0) schedule(stream);
    return stream;
  }

  // Streams opening in the same millisecond (a reconnect wave) share one Ready:
  // encoded once, and framed once per codec by the writer.
  let lastReady: { atMs: number; event: LiveEvent } | undefined;
  const readyEvent = (now: number): LiveEvent => {
    if (lastReady?.atMs !== now) {
      lastReady = { atMs: now, event: ownEvent(ready(now, deps.keepAliveMs)) };
    }
    return lastReady.event;
  };

  const streamOf = (handle: LiveStreamHandle) => handle as DeviceStream;

  function resume(handle: LiveStreamHandle) {
    const stream = streamOf(handle);
    if (!stream.blocked) return;
    stream.blocked = false;
    if (stream.events.length > 0 && stream.phase === "live") schedule(stream);
  }

  function close(handle: LiveStreamHandle) {
    const stream = streamOf(handle);
    if (stream.phase === "done") return;
    const endedWith = stream.phase === "ending" ? stream.endedWith : undefined;
    stream.phase = "done";
    stream.events = NO_EVENTS;
    toWake.delete(stream);
    release(stream);
    sessions?.closed(stream.owner, stream.id, endedWith);
  }

  /**
   * `open` as an async generator of the batches the hub writes, for `stream`
   * (Connect's handler): a batch not yet taken by the reader holds the sink
   * full, so a slow reader's events queue in the hub, up to the overflow limit.
   */
  async function* batches(
    owner: StreamOwner,
    signal: AbortSignal,
  ): AsyncGenerator<readonly LiveEvent[]> {
    // The sink reports itself full while a batch waits for the reader, so the
    // hub queues (and counts towards overflow) what the reader has not taken.
    const box: {
      batch: LiveEvent[] | undefined;
      ended: DomainError | undefined;
      wake: (() => void) | undefined;
    } = { batch: undefined, ended: undefined, wake: undefined };
    const sink: LiveSink = {
      write(events) {
        box.batch = box.batch === undefined ? [...events] : [...box.batch, ...events];
        box.wake?.();
        return false;
      },
      end(error) {
        box.ended = error;
        box.wake?.();
      },
    };
    const onAbort = () => box.wake?.();
    signal.addEventListener("abort", onAbort);
    let handle: LiveStreamHandle | undefined;
    try {
      handle = await open(owner, sink);
      while (!signal.aborted) {
        if (box.batch !== undefined) {
          const batch = box.batch;
          box.batch = undefined;
          yield batch;
          resume(handle);
          continue;
        }
        if (box.ended !== undefined) throw box.ended;
        await new Promise<void>((resolve) => {
          box.wake = resolve;
        });
        box.wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (handle !== undefined) close(handle);
    }
  }

  const publishToUsers = (userIds: Iterable<string>, event: SubscribeResponse): void => {
    const data = toBinary(SubscribeResponseSchema, event);
    for (const userId of userIds) bus.publishLive(bus.registry.liveUserSubject(userId), data);
  };
  return {
    observeSessions(observer) {
      sessions = observer;
    },

    endSession(e) {
      bus.publishLive(
        bus.registry.liveSessionEndsSubject,
        toBinary(
          DeviceSessionEndSchema,
          create(DeviceSessionEndSchema, {
            userId: e.userId,
            deviceId: e.deviceId,
            streamId: e.streamId ?? "",
            event:
              e.lastEvent === undefined
                ? new Uint8Array()
                : toBinary(SubscribeResponseSchema, e.lastEvent),
            reason: e.reason,
          }),
        ),
      );
    },

    publishToUser: (userId, event) => publishToUsers([userId], event),
    publishToUsers,

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

    sigsInvalidated: (userId, beforeMs) => publishAuthority([userId], beforeMs, false),
    accountsDeleted: (userIds, atMs) => {
      if (userIds.length > 0) publishAuthority(userIds, atMs, true);
    },

    async *stream(owner, signal) {
      for await (const batch of batches(owner, signal)) {
        for (const event of batch) yield event.message;
      }
    },

    open,
    resume,
    close,
    openStreams: () => {
      let n = 0;
      for (const entry of users.values()) n += deviceCount(entry);
      return n;
    },
  };
}

/**
 * The queue of a stream with nothing queued, shared (frozen: a push would throw):
 * an idle stream holds no empty array of its own (32 B each).
 */
const NO_EVENTS = Object.freeze([]) as unknown as LiveEvent[];
const queueEvent = (stream: DeviceStream, event: LiveEvent) => {
  if (stream.events === NO_EVENTS) stream.events = [event];
  else stream.events.push(event);
};

/** The most time one event-loop turn spends waking streams. */
const WAKE_TURN_MS = 15;
/** Streams woken between two reads of the clock. */
const WAKE_CLOCK_EVERY = 64;

/** Keep-alive timer ticks per keep-alive interval: a quiet stream's keep-alive comes 7/8 to 1 interval after its last write. */
const KEEPALIVE_TICKS = 8;

/**
 * How long a node remembers a revocation for streams still being opened: far
 * longer than a request takes from authentication to its stream's registration.
 */
const RECENT_REVOCATION_MS = 5 * 60_000;

const streamReplacedError = () =>
  new DomainError(
    "aborted",
    ErrorReason.STREAM_REPLACED,
    "a newer stream of this device replaced this one",
  );

const streamOverflowError = () =>
  new DomainError(
    "resource-exhausted",
    ErrorReason.STREAM_OVERFLOW,
    "stream fell behind; reconnect and sync",
  );

const sessionEndError = (reason: number) =>
  reason === ErrorReason.LOGGED_OUT
    ? new DomainError("aborted", ErrorReason.LOGGED_OUT, "this device logged out")
    : new DomainError(
        "aborted",
        ErrorReason.KICKED_OFFLINE,
        "this device was signed out: the user signed in elsewhere or an admin kicked it",
      );

const sigExpiredError = () =>
  new DomainError("unauthenticated", ErrorReason.SIG_EXPIRED, "UserSig has expired");

const revocationError = (deleted: boolean) =>
  deleted
    ? new DomainError("unauthenticated", ErrorReason.ACCOUNT_NOT_FOUND, "account was deleted")
    : new DomainError("unauthenticated", ErrorReason.SIG_REVOKED, "UserSig was invalidated");

/** An event of one stream only (Ready, keep-alive). */
const ownEvent = (message: SubscribeResponse): LiveEvent => ({
  message,
  binary: toBinary(SubscribeResponseSchema, message),
  framed: new Map(),
});

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
