/**
 * Presence, cluster-wide: who is Online (a stream open on a node whose lease is
 * fresh), PushOnline (a mobile device whose stream ended without a logout, within
 * the PushOnline period) or Offline. State lives in NATS KV buckets, never only in
 * this node's memory (see README.md here for the flow):
 *
 * - users:  one record per user, its signed-in devices (compare-and-set updates);
 * - leases: one key per node, refreshed every heartbeat/3, lapsing after the
 *           heartbeat timeout: a killed node's devices stop counting as Online;
 * - nodes:  `node.<id>` per running node and `user.<id>.<userId>` per user with a
 *           stream there, so the node that notices a lapsed lease ("reaper") can
 *           tell those users' followers and fix their records;
 * - texts:  custom status texts; subs: who follows whose status.
 */
import { create } from "@bufbuild/protobuf";
import type { Kv } from "../bus/kv.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import {
  KickReason,
  type Platform,
  type SubscribeResponse,
  SubscribeResponseSchema,
  UserStatus,
  type UserStatusInfo,
  UserStatusInfoSchema,
} from "../gen/im/v1/events_pb.js";
import type { LiveHub, SessionObserver, StreamOwner } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { PresenceConfig } from "./config.js";
import { isMobile, loginSlot } from "./platforms.js";
import {
  cloneRecord,
  type DeviceEntry,
  decodeRecord,
  deviceStatus,
  emptyRecord,
  encodeRecord,
  openedAfter,
  pruneRecord,
  type StatusContext,
  type UserRecord,
  userStatus,
} from "./record.js";

/** The KV buckets presence keeps its state in (see the file comment). */
export interface PresenceBuckets {
  users: Kv;
  leases: Kv;
  nodes: Kv;
  texts: Kv;
  subs: Kv;
}

/** Why a device's session ended for good (its push binding should go). */
export type SessionEndReason = "logout" | "kicked";

/** A device's session ended (logout or kick): what the push component listens for. */
export interface SessionEnded {
  userId: string;
  deviceId: string;
  platform: Platform;
  reason: SessionEndReason;
  atMs: number;
}

/** A state change for the state-change webhook and logs. */
export interface StateChange {
  userId: string;
  deviceId: string;
  platform: Platform;
  action: "login" | "logout" | "disconnect" | "kicked";
  /** Kicked: LOGIN_ELSEWHERE or ADMIN; disconnect: what ended the stream. */
  reason: string;
  atMs: number;
}

export interface PresenceDeps {
  buckets: PresenceBuckets;
  hub: Pick<LiveHub, "publishToUser" | "publishToUsers" | "endSession">;
  clock: Clock;
  logger: Logger;
  config: PresenceConfig;
  /** This process's id, unique per run. */
  nodeId: string;
  /**
   * Whether a device can be reached by offline push. The push component answers
   * this once it exists; until then presence assumes every mobile device can
   * (`defaultHasPushRegistration`).
   */
  hasPushRegistration(userId: string, deviceId: string, platform: Platform): Promise<boolean>;
  /** Users who have `userId` as a friend (followers too when friendsAutoSubscribe is on). */
  friendsOf?(userId: string): Promise<string[]>;
  /**
   * A mobile device's stream ended on this node without a sign-out: it is
   * PushOnline if it has a push registration (the push badge restarts from the
   * unread total). Awaited before the change is announced, so whoever hears of
   * it sees its effect; a failure is logged and changes nothing of presence.
   * Not told for the devices of a dead node the reaper takes over: their apps
   * were in the foreground and reconnect, and a whole node's users at once
   * would hold the reaper up.
   */
  deviceAway?(userId: string, deviceId: string): Promise<void>;
}

/** Until the push component answers: mobile devices have a push registration. */
export const defaultHasPushRegistration = async (
  _userId: string,
  _deviceId: string,
  platform: Platform,
): Promise<boolean> => isMobile(platform);

export interface Presence {
  /** What the live hub tells about this node's streams. */
  readonly sessions: SessionObserver;
  /** Statuses of existing users, in order; `withDevices(userId)` adds device detail. */
  statuses(
    userIds: readonly string[],
    withDevices: (userId: string) => boolean,
  ): Promise<UserStatusInfo[]>;
  /**
   * The devices of each user with a live stream on a live node (status Online),
   * for push: no status text and no push-registration lookups, and each node's
   * lease read once for the whole batch.
   */
  onlineDevices(userIds: readonly string[]): Promise<Map<string, string[]>>;
  /** Ends the device's session: stream ends (LOGGED_OUT), device Offline. Idempotent. */
  logout(userId: string, deviceId: string): Promise<void>;
  /**
   * Admin: signs one device out; false when the record had it not signed in (a
   * stream it opened whose login is not recorded yet is ended all the same).
   */
  kickDevice(userId: string, deviceId: string): Promise<boolean>;
  /** Admin: signs every device of the user out; returns how many. */
  kickUser(userId: string): Promise<number>;
  setStatusText(userId: string, text: string): Promise<void>;
  /** Follows `targets` (validated, existing); returns their statuses. */
  subscribe(subscriber: string, targets: readonly string[]): Promise<UserStatusInfo[]>;
  /** Stops following `targets`, or everyone when empty. */
  unsubscribe(subscriber: string, targets: readonly string[]): Promise<void>;
  /** Hook: a device's session ended for good (logout, kick). Returns the unsubscribe function. */
  onSessionEnded(listener: (e: SessionEnded) => void): () => void;
  /** Hook: every login, logout, disconnect and kick. Returns the unsubscribe function. */
  onStateChange(listener: (e: StateChange) => void): () => void;
  /** Resolves once the presence writes started so far are through (tests, shutdown). */
  settled(): Promise<void>;
  /** Starts the lease refresher and the reaper. */
  start(): Promise<void>;
  /** Stops them, waits for pending writes, and withdraws this node's lease. */
  stop(): Promise<void>;
  /** One reaper pass (tests; the timer runs it every reapIntervalMs). */
  reapOnce(): Promise<void>;
  /** One lease refresh (tests; the timer runs it every heartbeat/3). */
  refreshOnce(): Promise<void>;
}

/** A stream of this node, as presence keeps it to write it back (reassert). */
interface LocalStream {
  owner: StreamOwner;
  streamId: string;
  openedAtMs: number;
}

const MAX_CAS_ATTEMPTS = 20;
/** The nodes-bucket key holding the next lapse slot to walk. */
const LAPSE_CURSOR = "lapse-cursor";
/**
 * Lapses are filed in slots of a thousandth of the PushOnline period (10 min of
 * 7 days), at least a reaper interval: followers hear that late at most, and a
 * cluster down for a whole period walks at most this many slots to catch up.
 */
const LAPSE_SLOTS_PER_PERIOD = 1000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export function createPresence(deps: PresenceDeps): Presence {
  const { buckets, hub, clock, logger, config, nodeId } = deps;
  const sessionListeners = new Set<(e: SessionEnded) => void>();
  const changeListeners = new Set<(e: StateChange) => void>();
  /**
   * This node's open streams by user, one per device (owner.deviceId). An array:
   * a user has a device or two here, and a Map each cost ~100 bytes more per user.
   */
  const local = new Map<string, LocalStream[]>();
  const pending = new Set<Promise<unknown>>();
  /** Per user, the last of this node's login and stream-end writes: they land in stream order. */
  const sessionWrites = new Map<string, Promise<void>>();
  /** A presence write failed (bus down): re-assert this node's streams on the next refresh. */
  let dirty = false;
  let timers: NodeJS.Timeout[] = [];
  const lapseSlotMs = Math.max(
    config.reapIntervalMs,
    Math.ceil(config.pushOnlineMs / LAPSE_SLOTS_PER_PERIOD),
  );
  let stopped = false;

  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };

  const emitSessionEnded = (e: SessionEnded) => {
    for (const l of sessionListeners) {
      try {
        l(e);
      } catch (err) {
        logger.warn("session-ended listener threw", { err });
      }
    }
  };
  const tellAway = async (userId: string, deviceId: string, platform: Platform) => {
    if (deps.deviceAway === undefined || !isMobile(platform)) return;
    try {
      await deps.deviceAway(userId, deviceId);
    } catch (err) {
      logger.warn("presence: device-away listener failed", { userId, deviceId, err });
    }
  };
  const emitChange = (e: StateChange) => {
    for (const l of changeListeners) {
      try {
        l(e);
      } catch (err) {
        logger.warn("state-change listener threw", { err });
      }
    }
  };

  // ---- status context -------------------------------------------------------

  /** Node liveness, read once per operation (one KV get per distinct node). */
  const livenessOf = async (records: readonly UserRecord[]) => {
    const alive = new Map<string, boolean>([[nodeId, !stopped]]);
    for (const r of records) {
      for (const d of Object.values(r.devices)) {
        if (d.state !== "online" || alive.has(d.nodeId)) continue;
        alive.set(d.nodeId, (await buckets.leases.get(d.nodeId)) !== undefined);
      }
    }
    return alive;
  };

  /**
   * Asks push (a store read) only about the devices whose status depends on it:
   * mobile, not Online, within the PushOnline period.
   */
  const pushRegistrationsOf = async (
    userId: string,
    records: readonly UserRecord[],
    nodeAlive: (id: string) => boolean,
    nowMs: number,
  ) => {
    const registered = new Map<string, boolean>();
    for (const r of records) {
      for (const [id, d] of Object.entries(r.devices)) {
        if (registered.has(id) || !isMobile(d.platform)) continue;
        if (d.state === "online" && nodeAlive(d.nodeId)) continue;
        if (nowMs - d.sinceMs >= config.pushOnlineMs) continue;
        registered.set(id, await deps.hasPushRegistration(userId, id, d.platform));
      }
    }
    return registered;
  };

  /** `nowMs`: the moment the statuses are taken at (a lapse is told as of just before it). */
  const contextFor = async (
    userId: string,
    records: readonly UserRecord[],
    nowMs = clock(),
  ): Promise<StatusContext> => {
    const alive = await livenessOf(records);
    const nodeAlive = (id: string) => alive.get(id) ?? false;
    const push = await pushRegistrationsOf(userId, records, nodeAlive, nowMs);
    return {
      nowMs,
      pushOnlineMs: config.pushOnlineMs,
      nodeAlive,
      pushRegistered: (id) => push.get(id) ?? false,
    };
  };

  // ---- records ---------------------------------------------------------------

  const readRecord = async (userId: string): Promise<UserRecord> => {
    const entry = await buckets.users.get(userId);
    return entry === undefined ? emptyRecord() : decodeRecord(entry.value);
  };

  /**
   * Applies `change` to the user's record with compare-and-set, retrying on a
   * concurrent write; `change` runs again on the fresh record each time and
   * returns false for "nothing to write".
   */
  const mutateUser = async <R>(
    userId: string,
    change: (r: UserRecord) => { write: boolean; result: R },
  ): Promise<{ before: UserRecord; after: UserRecord; result: R; written: boolean }> => {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = await buckets.users.get(userId);
      const before = entry === undefined ? emptyRecord() : decodeRecord(entry.value);
      const after = cloneRecord(before);
      const { write, result } = change(after);
      if (!write) return { before, after, result, written: false };
      const data = encodeRecord(after);
      const ok =
        entry === undefined
          ? await buckets.users.create(userId, data)
          : await buckets.users.update(userId, data, entry.revision);
      if (ok !== undefined) return { before, after, result, written: true };
    }
    throw new DomainError(
      "unavailable",
      ErrorReason.PRESENCE_UNAVAILABLE,
      "presence state is too contended; retry",
    );
  };

  const textOf = async (userId: string): Promise<string> => {
    const entry = await buckets.texts.get(userId);
    return entry === undefined ? "" : dec.decode(entry.value);
  };

  const followersOf = async (userId: string): Promise<string[]> => {
    const subscribed = await readList(buckets.subs, `to.${userId}`);
    if (!config.friendsAutoSubscribe || deps.friendsOf === undefined) return subscribed;
    return [...new Set([...subscribed, ...(await deps.friendsOf(userId))])];
  };

  const infoOf = (
    userId: string,
    record: UserRecord,
    ctx: StatusContext,
    text: string,
    withDevices: boolean,
  ): UserStatusInfo =>
    create(UserStatusInfoSchema, {
      userId,
      status: userStatus(record, ctx),
      statusText: text,
      devices: withDevices
        ? Object.entries(record.devices).flatMap(([deviceId, d]) => {
            const status = deviceStatus(deviceId, d, ctx);
            return status === UserStatus.OFFLINE
              ? []
              : [{ deviceId, platform: d.platform, status, sinceMs: BigInt(d.sinceMs) }];
          })
        : [],
    });

  /**
   * After a record changed: followers hear of a new user status, the user's other
   * devices of each device that came or went. `assumeAlive`: a node whose lease
   * just lapsed still counts as alive in `before` (the reaper's change);
   * `beforeAtMs`: `before` is taken at that moment (a PushOnline period that lapsed).
   */
  const announce = async (
    userId: string,
    before: UserRecord,
    after: UserRecord,
    as: { assumeAlive?: string; beforeAtMs?: number } = {},
  ) => {
    const { assumeAlive, beforeAtMs } = as;
    const now = clock();
    // One context for both: each node's lease and each device's push registration read once.
    const ctx = await contextFor(userId, [before, after], beforeAtMs ?? now);
    const afterCtx: StatusContext = { ...ctx, nowMs: now };
    const beforeCtx: StatusContext =
      assumeAlive === undefined
        ? ctx
        : { ...ctx, nodeAlive: (id) => id === assumeAlive || ctx.nodeAlive(id) };
    const ids = new Set([...Object.keys(before.devices), ...Object.keys(after.devices)]);
    for (const deviceId of ids) {
      const b = before.devices[deviceId];
      const a = after.devices[deviceId];
      const sb = b === undefined ? UserStatus.OFFLINE : deviceStatus(deviceId, b, beforeCtx);
      const sa = a === undefined ? UserStatus.OFFLINE : deviceStatus(deviceId, a, afterCtx);
      // A new stream of an Online device is news too (it logged in again).
      if (sb === sa && !(a !== undefined && b?.streamId !== a.streamId)) continue;
      const platform = (a ?? b)?.platform ?? 0;
      hub.publishToUser(userId, ownDeviceEvent(deviceId, platform, sa, now));
    }
    const statusBefore = userStatus(before, beforeCtx);
    const statusAfter = userStatus(after, afterCtx);
    if (statusBefore !== statusAfter) await tellFollowers(userId, after, afterCtx);
  };

  const tellFollowers = async (userId: string, record: UserRecord, ctx: StatusContext) => {
    const followers = await followersOf(userId);
    if (followers.length === 0) return;
    const info = infoOf(userId, record, ctx, await textOf(userId), false);
    hub.publishToUsers(followers, statusEvent(info, clock()));
  };

  /** Best effort: presence must never fail a stream or lose a status change silently. */
  const guarded = (what: string, fields: Record<string, unknown>, run: () => Promise<void>) =>
    track(
      run().catch((err: unknown) => {
        dirty = true;
        logger.warn(`presence: ${what} failed; repaired on the next lease refresh`, {
          ...fields,
          err,
        });
      }),
    );

  // ---- sessions (this node's streams) ---------------------------------------

  /**
   * Runs `write` after the user's earlier session writes on this node: a stream
   * that ends before its login write landed must not be written Online after its end.
   */
  const inStreamOrder = (userId: string, write: () => Promise<void>) => {
    const next = (sessionWrites.get(userId) ?? Promise.resolve()).then(write);
    sessionWrites.set(userId, next);
    void track(next).finally(() => {
      if (sessionWrites.get(userId) === next) sessionWrites.delete(userId);
    });
  };

  const addLocal = (owner: StreamOwner, streamId: string, openedAtMs: number) => {
    const stream: LocalStream = { owner, streamId, openedAtMs };
    const devices = local.get(owner.userId);
    if (devices === undefined) {
      local.set(owner.userId, [stream]);
      return;
    }
    const i = devices.findIndex((d) => d.owner.deviceId === owner.deviceId);
    if (i === -1) devices.push(stream);
    else devices[i] = stream;
  };
  const removeLocal = (owner: StreamOwner, streamId: string): boolean => {
    const devices = local.get(owner.userId);
    const i =
      devices?.findIndex((d) => d.owner.deviceId === owner.deviceId && d.streamId === streamId) ??
      -1;
    if (devices === undefined || i === -1) return false;
    devices.splice(i, 1);
    if (devices.length > 0) return false;
    local.delete(owner.userId);
    return true;
  };

  const login = async (owner: StreamOwner, streamId: string, openedAtMs: number) => {
    const { userId, deviceId, platform } = owner;
    const now = clock();
    const slot = loginSlot(config.loginPolicy, platform);
    const {
      before,
      after,
      result: { kicked, newer },
    } = await mutateUser<{
      kicked: [string, DeviceEntry][];
      newer: [string, DeviceEntry] | undefined;
    }>(userId, (r) => {
      // Logins on two nodes land in any order: a newer stream in the record (of
      // this device, or online in its slot) wins, as the live hub orders streams.
      const superseding = Object.entries(r.devices).find(
        ([id, d]) =>
          (id === deviceId || (d.state === "online" && sameSlot(slot, d.platform))) &&
          d.streamId !== streamId &&
          openedAfter(d, openedAtMs, streamId),
      );
      if (superseding !== undefined) {
        return { write: false, result: { kicked: [], newer: superseding } };
      }
      const out: [string, DeviceEntry][] = [];
      for (const [id, d] of Object.entries(r.devices)) {
        if (id !== deviceId && sameSlot(slot, d.platform)) {
          out.push([id, d]);
          delete r.devices[id];
        }
      }
      r.devices[deviceId] = {
        platform,
        state: "online",
        nodeId,
        streamId,
        sinceMs: now,
        openedAtMs,
      };
      pruneRecord(r, now, config.pushOnlineMs);
      return { write: true, result: { kicked: out, newer: undefined } };
    });
    if (newer !== undefined) {
      const [byId, by] = newer;
      // The same device: the hub ends this stream (STREAM_REPLACED) by itself.
      if (byId === deviceId) return;
      // Another device of the slot logged in later: this one is the older login.
      hub.endSession({
        userId,
        deviceId,
        streamId,
        lastEvent: kickedEvent(KickReason.LOGIN_ELSEWHERE, byId, by.platform),
        reason: ErrorReason.KICKED_OFFLINE,
      });
      emitChange({ userId, deviceId, platform, action: "login", reason: "", atMs: now });
      kickedBy(userId, deviceId, platform, now);
      return;
    }
    await buckets.nodes.put(`user.${nodeId}.${userId}`, new Uint8Array());
    for (const [id, d] of kicked) {
      if (d.state === "online") {
        hub.endSession({
          userId,
          deviceId: id,
          streamId: d.streamId,
          lastEvent: kickedEvent(KickReason.LOGIN_ELSEWHERE, deviceId, platform),
          reason: ErrorReason.KICKED_OFFLINE,
        });
      }
      kickedBy(userId, id, d.platform, now);
    }
    emitChange({ userId, deviceId, platform, action: "login", reason: "", atMs: now });
    await announce(userId, before, after);
  };

  /** Whether a device on `platform` shares the login slot `slot` (none: outside the policy). */
  const sameSlot = (slot: string | undefined, platform: Platform) =>
    slot !== undefined && loginSlot(config.loginPolicy, platform) === slot;

  /** A device signed out by a login elsewhere: its push binding goes, the webhook hears. */
  const kickedBy = (userId: string, deviceId: string, platform: Platform, atMs: number) => {
    emitSessionEnded({ userId, deviceId, platform, reason: "kicked", atMs });
    emitChange({ userId, deviceId, platform, action: "kicked", reason: "LOGIN_ELSEWHERE", atMs });
  };

  const leave = async (
    owner: StreamOwner,
    streamId: string,
    endedWith: DomainError | undefined,
  ) => {
    const { userId, deviceId, platform } = owner;
    const now = clock();
    const lastHere = removeLocal(owner, streamId);
    const reason = endedWith?.reason;
    // A newer stream of the device owns its entry.
    if (reason !== ErrorReason.STREAM_REPLACED) {
      // A kick or logout normally removed the entry already; it is still there
      // (and goes now) when it ended the stream before the stream's login landed.
      const signedOut =
        reason === ErrorReason.SIG_REVOKED ||
        reason === ErrorReason.ACCOUNT_NOT_FOUND ||
        reason === ErrorReason.KICKED_OFFLINE ||
        reason === ErrorReason.LOGGED_OUT;
      const { before, after, written } = await mutateUser(userId, (r) => {
        const d = r.devices[deviceId];
        if (d === undefined || d.streamId !== streamId || d.state !== "online") {
          return { write: false, result: undefined };
        }
        if (signedOut) delete r.devices[deviceId];
        else r.devices[deviceId] = { ...d, state: "away", sinceMs: now };
        pruneRecord(r, now, config.pushOnlineMs);
        return { write: true, result: undefined };
      });
      if (written) {
        // A logout or kick that beat the login is told as signOut tells it.
        const [action, why]: [StateChange["action"], string] =
          reason === ErrorReason.LOGGED_OUT
            ? ["logout", "LOGOUT"]
            : reason === ErrorReason.KICKED_OFFLINE
              ? ["kicked", "ADMIN"]
              : [
                  signedOut ? "logout" : "disconnect",
                  reason === undefined ? "STREAM_CLOSED" : ErrorReason[reason],
                ];
        emitChange({ userId, deviceId, platform, action, reason: why, atMs: now });
        if (!signedOut) await tellAway(userId, deviceId, platform);
        await announce(userId, before, after);
        if (!signedOut) await lapseLater(userId, [[deviceId, owner]], now);
      }
    }
    // Not if the user opened another stream here meanwhile (its login writes the key again).
    if (lastHere && !local.has(userId)) await buckets.nodes.delete(`user.${nodeId}.${userId}`);
  };

  const sessions: SessionObserver = {
    opened(owner, streamId, openedAtMs) {
      addLocal(owner, streamId, openedAtMs);
      // Not awaited: a stream gets Ready even while presence's store is slow or
      // unreachable (a NATS restart); a failed login is repaired on the next refresh.
      inStreamOrder(owner.userId, () =>
        guarded("login", { userId: owner.userId, deviceId: owner.deviceId }, () =>
          login(owner, streamId, openedAtMs),
        ),
      );
    },
    closed(owner, streamId, endedWith) {
      inStreamOrder(owner.userId, () =>
        guarded("stream end", { userId: owner.userId, deviceId: owner.deviceId }, () =>
          leave(owner, streamId, endedWith),
        ),
      );
    },
  };

  /** Removes devices from the record and ends their streams; returns the removed ones. */
  const signOut = async (
    userId: string,
    pick: (deviceId: string) => boolean,
    how: "logout" | "kicked",
  ): Promise<number> => {
    const now = clock();
    const {
      before,
      after,
      result: removed,
    } = await mutateUser(userId, (r) => {
      const out: [string, DeviceEntry][] = [];
      for (const [id, d] of Object.entries(r.devices)) {
        if (!pick(id)) continue;
        out.push([id, d]);
        delete r.devices[id];
      }
      return { write: out.length > 0, result: out };
    });
    for (const [id, d] of removed) {
      hub.endSession({
        userId,
        deviceId: id,
        ...(d.state === "online" ? { streamId: d.streamId } : {}),
        ...(how === "kicked" ? { lastEvent: kickedEvent(KickReason.ADMIN, "", 0) } : {}),
        reason: how === "kicked" ? ErrorReason.KICKED_OFFLINE : ErrorReason.LOGGED_OUT,
      });
      emitSessionEnded({ userId, deviceId: id, platform: d.platform, reason: how, atMs: now });
      emitChange({
        userId,
        deviceId: id,
        platform: d.platform,
        action: how === "kicked" ? "kicked" : "logout",
        reason: how === "kicked" ? "ADMIN" : "LOGOUT",
        atMs: now,
      });
    }
    if (removed.length > 0) await announce(userId, before, after);
    return removed.length;
  };

  // ---- PushOnline periods that lapse ------------------------------------------
  //
  // A PushOnline device turns Offline by time alone, so no write tells its
  // followers. Each device going away files its user under the slot of its lapse
  // (`lapse.<slot>.<userId>` in the nodes bucket); reaper passes walk the slots
  // that have fully passed, each claimed by one node (compare-and-set on the
  // cursor), prune the users' records and announce as of just before the lapse.

  const slotOf = (ms: number) => Math.floor(ms / lapseSlotMs);

  /** Files the user under the lapse of its devices that went away at `atMs` (mobile ones). */
  const lapseLater = async (
    userId: string,
    devices: readonly [string, { platform: Platform }][],
    atMs: number,
  ) => {
    if (!devices.some(([, d]) => isMobile(d.platform))) return;
    await buckets.nodes.put(
      `lapse.${slotOf(atMs + config.pushOnlineMs)}.${userId}`,
      new Uint8Array(),
    );
  };

  const lapseUser = async (userId: string) => {
    const now = clock();
    const { before, after, written } = await mutateUser(userId, (r) => {
      const count = Object.keys(r.devices).length;
      pruneRecord(r, now, config.pushOnlineMs);
      return { write: Object.keys(r.devices).length !== count, result: undefined };
    });
    if (!written) return;
    // Statuses as of just before the earliest lapse among the pruned devices.
    let lapsedAt = now;
    for (const [id, d] of Object.entries(before.devices)) {
      if (after.devices[id] === undefined && d.state === "away") {
        lapsedAt = Math.min(lapsedAt, d.sinceMs + config.pushOnlineMs);
      }
    }
    await announce(userId, before, after, { beforeAtMs: lapsedAt - 1 });
  };

  const lapseOnce = async () => {
    for (;;) {
      const cursor = await buckets.nodes.get(LAPSE_CURSOR);
      if (cursor === undefined) {
        await buckets.nodes.create(LAPSE_CURSOR, enc.encode(String(slotOf(clock()))));
        return;
      }
      const slot = Number(dec.decode(cursor.value));
      // Only slots whose every lapse has passed.
      if (!(slot < slotOf(clock()))) return;
      const next = enc.encode(String(slot + 1));
      if ((await buckets.nodes.update(LAPSE_CURSOR, next, cursor.revision)) === undefined) {
        continue; // another node took this slot
      }
      for (const key of await buckets.nodes.keys(`lapse.${slot}`)) {
        await lapseUser(key.slice(`lapse.${slot}.`.length));
        await buckets.nodes.delete(key);
      }
    }
  };

  // ---- this node's lease, and the reaper of lapsed ones ----------------------

  /** Writes this node's streams back as Online (after its lease lapsed, or a failed write). */
  const reassert = async () => {
    for (const [userId, devices] of local) {
      const { before, after, written } = await mutateUser(userId, (r) => {
        let write = false;
        for (const { owner, streamId, openedAtMs } of devices) {
          const { deviceId } = owner;
          const d = r.devices[deviceId];
          // A newer stream of the device elsewhere owns the entry.
          if (d !== undefined && d.streamId !== streamId) continue;
          if (d?.state === "online" && d.nodeId === nodeId) continue;
          r.devices[deviceId] = {
            platform: owner.platform,
            state: "online",
            nodeId,
            streamId,
            sinceMs: clock(),
            openedAtMs,
          };
          write = true;
        }
        return { write, result: undefined };
      });
      await buckets.nodes.put(`user.${nodeId}.${userId}`, new Uint8Array());
      if (written) await announce(userId, before, after);
    }
  };

  const refreshOnce = async () => {
    if (stopped) return;
    try {
      await buckets.leases.put(nodeId, enc.encode(String(clock())));
      const marker = await buckets.nodes.get(`node.${nodeId}`);
      const reaped = marker === undefined || dec.decode(marker.value) !== "up";
      if (reaped) await buckets.nodes.put(`node.${nodeId}`, enc.encode("up"));
      if (reaped || dirty) {
        if (reaped && marker !== undefined)
          logger.warn("presence: this node was taken for dead; re-asserting its streams");
        dirty = false;
        await reassert();
      }
    } catch (err) {
      dirty = true;
      logger.warn("presence: lease refresh failed", { err });
    }
  };

  const reapNode = async (deadId: string) => {
    const marker = await buckets.nodes.get(`node.${deadId}`);
    if (marker === undefined) return;
    // Exactly one node claims the dead node's users.
    if (
      (await buckets.nodes.update(`node.${deadId}`, enc.encode("reaping"), marker.revision)) ===
      undefined
    ) {
      return;
    }
    logger.info("presence: a node's lease lapsed; its devices are no longer online", {
      node: deadId,
    });
    for (const key of await buckets.nodes.keys(`user.${deadId}`)) {
      const userId = key.slice(`user.${deadId}.`.length);
      // The node came back meanwhile: it re-asserts its own streams.
      if ((await buckets.leases.get(deadId)) !== undefined) return;
      const now = clock();
      const { before, after, written, result } = await mutateUser(userId, (r) => {
        const lost: [string, DeviceEntry][] = [];
        for (const [id, d] of Object.entries(r.devices)) {
          if (d.nodeId !== deadId || d.state !== "online") continue;
          r.devices[id] = { ...d, state: "away", sinceMs: now };
          lost.push([id, d]);
        }
        return { write: lost.length > 0, result: lost };
      });
      for (const [id, d] of result) {
        emitChange({
          userId,
          deviceId: id,
          platform: d.platform,
          action: "disconnect",
          reason: "HEARTBEAT_TIMEOUT",
          atMs: now,
        });
      }
      if (written) {
        await announce(userId, before, after, { assumeAlive: deadId });
        await lapseLater(userId, result, now);
      }
      await buckets.nodes.delete(key);
    }
    await buckets.nodes.delete(`node.${deadId}`);
  };

  const reapOnce = async () => {
    if (stopped) return;
    try {
      for (const key of await buckets.nodes.keys("node")) {
        const id = key.slice("node.".length);
        if (id === nodeId || (await buckets.leases.get(id)) !== undefined) continue;
        await reapNode(id);
      }
      await lapseOnce();
    } catch (err) {
      logger.warn("presence: reaper pass failed", { err });
    }
  };

  const every = (ms: number, run: () => Promise<void>) => {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      void track(run()).finally(() => {
        running = false;
      });
    }, ms);
    timer.unref();
    timers.push(timer);
  };

  // ---- queries and commands --------------------------------------------------

  const settled = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  const statuses: Presence["statuses"] = async (userIds, withDevices) =>
    Promise.all(
      userIds.map(async (userId) => {
        const [record, text] = await Promise.all([readRecord(userId), textOf(userId)]);
        const ctx = await contextFor(userId, [record]);
        return infoOf(userId, record, ctx, text, withDevices(userId));
      }),
    );

  const onlineDevices: Presence["onlineDevices"] = async (userIds) => {
    const records = await Promise.all(userIds.map(readRecord));
    const alive = await livenessOf(records);
    // Online is decided before the push registration is consulted (see deviceStatus).
    const ctx: StatusContext = {
      nowMs: clock(),
      pushOnlineMs: config.pushOnlineMs,
      nodeAlive: (id) => alive.get(id) ?? false,
      pushRegistered: () => false,
    };
    return new Map(
      userIds.map((userId, i) => [
        userId,
        Object.entries(records[i]?.devices ?? {})
          .filter(([deviceId, d]) => deviceStatus(deviceId, d, ctx) === UserStatus.ONLINE)
          .map(([deviceId]) => deviceId),
      ]),
    );
  };

  return {
    sessions,
    statuses,
    onlineDevices,

    logout: async (userId, deviceId) => {
      // The record did not know the device (its login not written yet, or lost while
      // the bus was down): whichever stream it holds ends. Otherwise signOut ended the
      // recorded stream by its id, and a newer stream of the device opened since stays.
      if ((await signOut(userId, (id) => id === deviceId, "logout")) === 0) {
        hub.endSession({ userId, deviceId, reason: ErrorReason.LOGGED_OUT });
      }
    },

    kickDevice: async (userId, deviceId) => {
      if ((await signOut(userId, (id) => id === deviceId, "kicked")) > 0) return true;
      // As logout: a device whose login is not recorded yet (it lands after Ready)
      // still loses whichever stream it holds, and its entry goes when that stream
      // ends (KICKED_OFFLINE). The answer is the record's: it was not signed in.
      hub.endSession({
        userId,
        deviceId,
        lastEvent: kickedEvent(KickReason.ADMIN, "", 0),
        reason: ErrorReason.KICKED_OFFLINE,
      });
      return false;
    },

    kickUser: (userId) => signOut(userId, () => true, "kicked"),

    async setStatusText(userId, text) {
      const bytes = enc.encode(text);
      if (bytes.length > config.statusTextMaxBytes) {
        throw new DomainError(
          "invalid-argument",
          ErrorReason.STATUS_TEXT_TOO_LONG,
          `status_text: at most ${config.statusTextMaxBytes} bytes, got ${bytes.length}`,
          { field: "status_text" },
        );
      }
      const old = await textOf(userId);
      if (old === text) return;
      if (text === "") await buckets.texts.delete(userId);
      else await buckets.texts.put(userId, bytes);
      const record = await readRecord(userId);
      await tellFollowers(userId, record, await contextFor(userId, [record]));
    },

    async subscribe(subscriber, targets) {
      await mutateList(buckets.subs, `of.${subscriber}`, (list) => {
        const set = new Set(list);
        for (const t of targets) set.add(t);
        if (set.size > config.subscriptionsMax) {
          throw new DomainError(
            "resource-exhausted",
            ErrorReason.STATUS_SUBSCRIPTION_LIMIT,
            `a user may follow the status of at most ${config.subscriptionsMax} users (now ${list.length})`,
          );
        }
        return [...set];
      });
      // One key per target: their writes go out together (pipelined on the bus), not one by one.
      await Promise.all(
        targets.map((t) =>
          mutateList(buckets.subs, `to.${t}`, (list) =>
            list.includes(subscriber) ? list : [...list, subscriber],
          ),
        ),
      );
      return statuses(targets, () => false);
    },

    async unsubscribe(subscriber, targets) {
      let removed: string[] = [];
      await mutateList(buckets.subs, `of.${subscriber}`, (list) => {
        const drop = targets.length === 0 ? new Set(list) : new Set(targets);
        removed = list.filter((t) => drop.has(t));
        return list.filter((t) => !drop.has(t));
      });
      await Promise.all(
        (targets.length === 0 ? removed : targets).map((t) =>
          mutateList(buckets.subs, `to.${t}`, (list) => list.filter((s) => s !== subscriber)),
        ),
      );
    },

    onSessionEnded(listener) {
      sessionListeners.add(listener);
      return () => sessionListeners.delete(listener);
    },
    onStateChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },

    async start() {
      stopped = false;
      await buckets.nodes.put(`node.${nodeId}`, enc.encode("up"));
      await buckets.leases.put(nodeId, enc.encode(String(clock())));
      // The first node ever starts the lapse walk now (nothing lapses before a start).
      await buckets.nodes.create(LAPSE_CURSOR, enc.encode(String(slotOf(clock()))));
      every(Math.max(100, Math.floor(config.heartbeatTimeoutMs / 3)), refreshOnce);
      every(config.reapIntervalMs, reapOnce);
    },

    settled,

    async stop() {
      for (const t of timers) clearInterval(t);
      timers = [];
      await settled();
      stopped = true;
      // Whatever streams are still recorded here count as lost at once, not after the timeout.
      await buckets.leases.delete(nodeId).catch(() => undefined);
    },

    reapOnce,
    refreshOnce,
  };
}

/** Reads a JSON string list (empty when absent). */
async function readList(kv: Kv, key: string): Promise<string[]> {
  const entry = await kv.get(key);
  return entry === undefined ? [] : (JSON.parse(dec.decode(entry.value)) as string[]);
}

/** Compare-and-set on a JSON string list. */
async function mutateList(
  kv: Kv,
  key: string,
  change: (list: string[]) => string[],
): Promise<string[]> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await kv.get(key);
    const list = entry === undefined ? [] : (JSON.parse(dec.decode(entry.value)) as string[]);
    const next = change(list);
    if (next.length === list.length && next.every((v, i) => v === list[i])) return next;
    const data = enc.encode(JSON.stringify(next));
    const ok =
      entry === undefined ? await kv.create(key, data) : await kv.update(key, data, entry.revision);
    if (ok !== undefined) return next;
  }
  throw new DomainError(
    "unavailable",
    ErrorReason.PRESENCE_UNAVAILABLE,
    "presence state is too contended; retry",
  );
}

const statusEvent = (status: UserStatusInfo, now: number): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: { case: "userStatusChanged", value: { status, timeMs: BigInt(now) } },
  });

const kickedEvent = (
  reason: KickReason,
  byDeviceId: string,
  byPlatform: Platform,
): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: { case: "kickedOffline", value: { reason, byDeviceId, byPlatform } },
  });

const ownDeviceEvent = (
  deviceId: string,
  platform: Platform,
  status: UserStatus,
  now: number,
): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: { case: "ownDeviceChanged", value: { deviceId, platform, status, timeMs: BigInt(now) } },
  });
