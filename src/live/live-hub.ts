import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sigExpired, sigRevoked } from "../auth/caller.js";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
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
  opened(owner: StreamOwner, streamId: string): void;
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
   * The same stream for a writer of pre-encoded frames: each step yields every
   * event queued since the last one (Ready alone first), for one coalesced
   * write. The writer takes the next batch only once its connection has room,
   * so a slow reader's events queue here, up to the overflow limit.
   */
  batches(owner: StreamOwner, signal: AbortSignal): AsyncGenerator<readonly LiveEvent[]>;
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

export type FollowedChange = { member: false } | { member: true; discarding: boolean };

interface DeviceStream {
  owner: StreamOwner;
  /** Random; with openedAtMs orders two streams of one device across nodes. */
  id: string;
  openedAtMs: number;
  events: LiveEvent[];
  wake: (() => void) | undefined;
  /** Set when the server ends the stream; the stream throws it when it looks next. */
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

interface UserEntry {
  /** This node's streams of the user, by device id. */
  devices: Map<string, DeviceStream>;
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
  let sessions: SessionObserver | undefined;

  // Waking thousands of streams at once would run all their writes in one
  // unbroken chain of microtasks, and every other request (a send waiting for
  // its store replies) would wait behind a 10,000-member delivery. Streams are
  // woken WAKE_BATCH at a time, one batch per event-loop turn, so I/O runs between.
  const toWake = new Set<DeviceStream>();
  const wakeBatch = () => {
    let woken = 0;
    for (const queue of toWake) {
      toWake.delete(queue);
      queue.wake?.();
      if (++woken === WAKE_BATCH) break;
    }
    if (toWake.size > 0) setImmediate(wakeBatch);
  };
  const enqueue = (queue: DeviceStream, event: LiveEvent) => {
    if (queue.events.length >= deps.maxQueuedEvents) {
      // Too far behind: it leaves the registry at once, so nothing more queues up for
      // a reader that may never read again, and it ends when its writer looks next.
      queue.events = [];
      end(queue, streamOverflowError());
      return;
    }
    queue.events.push(event);
    if (queue.wake === undefined) return; // busy: it takes the event when it looks next
    if (toWake.size === 0) setImmediate(wakeBatch);
    toWake.add(queue);
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
      for (const stream of entry.devices.values()) {
        const expiresAt = stream.owner.sigExpiresAtMs;
        if (sigExpired(expiresAt, now)) end(stream, sigExpiredError());
        else next = Math.min(next, expiresAt);
      }
    }
    nextExpiryMs = next;
  };

  /** Ends a stream from the server side; it leaves the registry at once. */
  const end = (stream: DeviceStream, error: DomainError) => {
    if (stream.endedWith !== undefined) return;
    stream.endedWith = error;
    release(stream);
    stream.wake?.();
  };

  /**
   * Registers a new stream of a device, replacing the device's stream on this
   * node, and tells the other nodes so they end theirs. Throws if the owner's
   * authority is already gone or the user has too many devices streaming.
   */
  const register = (
    owner: StreamOwner,
  ): { stream: DeviceStream; entry: UserEntry; firstHere: boolean } => {
    const { userId, deviceId } = owner;
    const now = clock();
    if (sigExpired(owner.sigExpiresAtMs, now)) throw sigExpiredError();
    const revoked = recentRevocations.get(userId);
    if (revoked !== undefined && sigRevoked(owner.sigIssuedAtMs, revoked.beforeMs)) {
      throw revocationError(revoked.deleted);
    }
    let entry = users.get(userId);
    const previous = entry?.devices.get(deviceId);
    if (
      entry !== undefined &&
      previous === undefined &&
      entry.devices.size >= deps.maxStreamsPerUser
    ) {
      throw new DomainError(
        "resource-exhausted",
        ErrorReason.STREAM_LIMIT_REACHED,
        `at most ${deps.maxStreamsPerUser} devices of a user may stream at once`,
      );
    }
    const firstHere = entry === undefined;
    if (entry === undefined) {
      const devices = new Map<string, DeviceStream>();
      const unsubscribe = bus.subscribeLive(bus.registry.liveUserSubject(userId), (data) => {
        const event = decodeEvent(data, { userId });
        if (event === undefined) return;
        // A device is not told about its own login or logout.
        const about =
          event.message.event.case === "ownDeviceChanged"
            ? event.message.event.value.deviceId
            : undefined;
        for (const device of devices.values()) {
          if (device.owner.deviceId !== about) enqueue(device, event);
        }
      });
      entry = { devices, unsubscribe, groups: new Set(), changesDuringRead: undefined };
      users.set(userId, entry);
    }
    const stream: DeviceStream = {
      owner,
      id: randomUUID(),
      // Later than the stream it replaces, whatever the clock did: every node
      // must order the two the same way.
      openedAtMs: previous === undefined ? now : Math.max(now, previous.openedAtMs + 1),
      events: [],
      wake: undefined,
      endedWith: undefined,
      drainBeforeEnd: false,
    };
    if (previous !== undefined) {
      // Ended without release(): the user's entry (and its groups) stays for the successor.
      previous.endedWith = streamReplacedError();
      previous.wake?.();
    }
    entry.devices.set(deviceId, stream);
    nextExpiryMs = Math.min(nextExpiryMs, owner.sigExpiresAtMs);
    if (sweepTimer === undefined) {
      sweepTimer = setInterval(sweep, deps.authorityCheckMs);
      sweepTimer.unref();
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
    if (entry === undefined || entry.devices.get(deviceId) !== stream) return;
    entry.devices.delete(deviceId);
    if (entry.devices.size === 0) {
      entry.unsubscribe();
      for (const groupId of [...entry.groups]) unfollow(groupId, userId);
      users.delete(userId);
    }
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
      for (const device of users.get(userId)?.devices.values() ?? []) enqueue(device, event);
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
    const mine = users.get(claim.userId)?.devices.get(claim.deviceId);
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
    const stream = users.get(msg.userId)?.devices.get(msg.deviceId);
    if (stream === undefined || (msg.streamId !== "" && msg.streamId !== stream.id)) return;
    if (stream.endedWith !== undefined) return;
    if (msg.event.length > 0) {
      const event = decodeEvent(msg.event, { userId: msg.userId });
      if (event !== undefined) {
        stream.events.push(event);
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
      for (const stream of users.get(userId)?.devices.values() ?? []) {
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

  async function* batches(
    owner: StreamOwner,
    signal: AbortSignal,
  ): AsyncGenerator<readonly LiveEvent[]> {
    const { stream: queue, entry, firstHere } = register(owner);
    const onAbort = () => queue.wake?.();
    signal.addEventListener("abort", onAbort);
    const observer = sessions;
    try {
      if (firstHere) await followGroups(owner.userId, entry);
      observer?.opened(owner, queue.id);
      // Ready promises that later events reach this stream, whichever node publishes them.
      await bus.flushLive();
      if (queue.endedWith !== undefined) throw queue.endedWith;
      yield [ownEvent(ready(clock(), deps.keepAliveMs))];
      while (!signal.aborted) {
        if (queue.endedWith !== undefined) {
          if (queue.drainBeforeEnd && queue.events.length > 0) {
            const last = queue.events;
            queue.events = [];
            yield last;
          }
          throw queue.endedWith;
        }
        if (queue.events.length > 0) {
          const batch = queue.events;
          queue.events = [];
          yield batch;
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
        if (!woke && !signal.aborted) yield [ownEvent(keepAlive(clock()))];
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      release(queue);
      observer?.closed(owner, queue.id, queue.endedWith);
    }
  }

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

    sigsInvalidated: (userId, beforeMs) => publishAuthority([userId], beforeMs, false),
    accountsDeleted: (userIds, atMs) => {
      if (userIds.length > 0) publishAuthority(userIds, atMs, true);
    },

    async *stream(owner, signal) {
      for await (const batch of batches(owner, signal)) {
        for (const event of batch) yield event.message;
      }
    },

    batches,
    openStreams: () => {
      let n = 0;
      for (const entry of users.values()) n += entry.devices.size;
      return n;
    },
  };
}

/** Streams woken per event-loop turn. */
const WAKE_BATCH = 256;

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
