import type { WindowCounters } from "../bus/window-counters.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import { apnsPayload } from "./apns-payload.js";
import type { ApnsSender } from "./apns-sender.js";
import { inDoNotDisturb } from "./do-not-disturb.js";
import { fcmMessage } from "./fcm-message.js";
import type { FcmSender } from "./fcm-sender.js";
import { createLimiter } from "./limiter.js";
import type { SendOutcome } from "./provider.js";
import type { PushContent } from "./push-text.js";
import { type RetryPolicy, realSleep, type Sleep, sendWithRetry } from "./retry.js";
import type { PushStats } from "./stats.js";
import { deviceKey, type PushRegistration, type PushTokenStore } from "./store.js";

export interface OfflinePushDeps {
  store: PushTokenStore;
  clock: Clock;
  apns: ApnsSender | undefined;
  fcm: FcmSender | undefined;
  /** Notifications in flight at once per provider, in this process. */
  concurrency: number;
  retry: RetryPolicy;
  stats: PushStats;
  logger: Logger;
  sleep?: Sleep;
  /**
   * Claims delivery keys for good and returns those this call won (the
   * store's claimDeliveries): a device is pushed only under a won claim.
   */
  claimDeliveries(keys: readonly string[]): Promise<Set<string>>;
  /** Pushes one user may get per window, cluster-wide; max 0: no limit. */
  userRate: { max: number; windowMs: number };
  counters: Pick<WindowCounters, "increment">;
}

/** The claim of one push: per job (message key or broadcast task) and device. */
export const pushClaimKey = (scope: string, userId: string, deviceId: string): string =>
  `${scope}/push/${userId}/${deviceId}`;

/** What one offline push to a set of users needs. */
export interface OfflinePushRequest {
  userIds: readonly string[];
  /**
   * Message pushes: users the message does not notify (receive option) whose
   * badges still count it, and `userIds` in do-not-disturb likewise: it is
   * unread all the same. Their devices are claimed like pushed ones, never pushed.
   */
  badgeOnly?: { userIds: readonly string[]; inDoNotDisturb: boolean };
  /** Devices a live stream reaches, by user (they get no push); asked only for users with a registration. */
  live(userIds: readonly string[]): Promise<ReadonlyMap<string, readonly string[]>>;
  /** The notification; called once, only when some device will get it or count it. Undefined: none. */
  content(): Promise<PushContent | undefined>;
  /**
   * Provider collapse key, and the scope of the claims: each device is
   * claimed (per chunk of at most `concurrency` devices) before its push and
   * pushed only if this call won the claim, so a redelivered job never pushes
   * a device twice, and a crash leaves at most one chunk claimed but unsent.
   */
  collapseKey: string;
  /** Told the outcome of each chunk once it is sent. */
  chunkSent?(result: OfflinePushResult): Promise<void>;
}

export interface OfflinePushResult {
  pushed: number;
  /** Not delivered: provider errors, dead tokens, provider not configured. */
  failed: number;
}

export interface OfflinePusher {
  /** Pushes to each registered device of the users that no live stream reaches, outside do-not-disturb. */
  push(request: OfflinePushRequest): Promise<void>;
}

/**
 * The offline push path every push job shares (message pushes, group batches,
 * broadcasts): registrations, do-not-disturb, badges, provider sends with
 * retries and per-provider concurrency, dead-token removal and stats.
 */
export function createOfflinePusher(deps: OfflinePushDeps): OfflinePusher {
  const sleep = deps.sleep ?? realSleep;
  const limiters = { apns: createLimiter(deps.concurrency), fcm: createLimiter(deps.concurrency) };

  const deliver = async (
    reg: PushRegistration,
    content: PushContent,
    badge: number | undefined,
    collapseKey: string,
  ): Promise<boolean> => {
    const channel = reg.target.channel;
    let send: (() => Promise<SendOutcome>) | undefined;
    if (reg.target.channel === "apns" && deps.apns !== undefined) {
      const { apns } = deps;
      const request = {
        token: reg.target.token,
        environment: reg.target.environment,
        topic: reg.target.bundleId,
        payload: apnsPayload(content, badge),
        collapseId: collapseKey,
      };
      send = () => apns.send(request);
    } else if (reg.target.channel === "fcm" && deps.fcm !== undefined) {
      const { fcm } = deps;
      const token = reg.target.token;
      const message = fcmMessage(content, collapseKey, badge);
      send = () => fcm.send(token, message);
    }
    if (send === undefined) {
      deps.stats.record(channel, "not-configured");
      return false;
    }
    const { outcome } = await sendWithRetry(send, deps.retry, sleep);
    if (outcome.kind === "sent") {
      deps.stats.record(channel, "sent");
      return true;
    }
    if (outcome.kind === "invalid-token") {
      await deps.store.deletePushToken(channel, reg.target.token);
      deps.stats.record(channel, "removed");
      deps.logger.info("push: token removed", { channel, reason: outcome.reason });
    } else {
      deps.stats.record(channel, { failed: outcome.reason });
      deps.logger.warn("push: not delivered", { channel, reason: outcome.reason });
    }
    return false;
  };

  /** Devices to push (`loud`), and devices whose badge only counts the message (`quiet`). */
  const candidates = async (request: OfflinePushRequest) => {
    const { userIds, badgeOnly } = request;
    const silent = badgeOnly?.userIds ?? [];
    if (userIds.length === 0 && silent.length === 0) return { loud: [], quiet: [] };
    const [all, windows] = await Promise.all([
      deps.store.selectPushRegistrations([...userIds, ...silent]),
      userIds.length === 0 ? new Map() : deps.store.selectDoNotDisturb(userIds),
    ]);
    const now = deps.clock();
    const silentSet = new Set(silent);
    const loud: PushRegistration[] = [];
    const quiet: PushRegistration[] = [];
    for (const r of all) {
      const window = windows.get(r.userId);
      if (silentSet.has(r.userId)) quiet.push(r);
      else if (window === undefined || !inDoNotDisturb(window, now)) loud.push(r);
      else if (badgeOnly?.inDoNotDisturb === true) quiet.push(r);
    }
    return { loud, quiet };
  };

  /** The devices whose claim (in `scope`) this call won. */
  const claimed = async (devices: readonly PushRegistration[], scope: string) => {
    const keys = devices.map((r) => pushClaimKey(scope, r.userId, r.deviceId));
    const won = await deps.claimDeliveries(keys);
    return devices.filter((_, i) => won.has(keys[i] ?? ""));
  };

  /** Counts the message on devices it does not push (claimed, so a redelivered job counts once). */
  const countQuiet = async (devices: readonly PushRegistration[], scope: string) => {
    if (devices.length === 0) return;
    const mine = await claimed(devices, scope);
    if (mine.length > 0) await deps.store.incrementBadges(mine);
  };

  /** The limiter a device's push takes a slot of; undefined when its provider is not configured. */
  const limiterOf = (reg: PushRegistration) => {
    const channel = reg.target.channel;
    return (channel === "apns" ? deps.apns : deps.fcm) === undefined
      ? undefined
      : limiters[channel];
  };

  /** Sends to devices that hold a limiter slot each (given back as each send ends). */
  const sendAll = async (
    devices: readonly PushRegistration[],
    content: PushContent,
    collapseKey: string,
  ): Promise<OfflinePushResult> => {
    let badges: Map<string, number>;
    try {
      badges = content.countsBadge
        ? await deps.store.incrementBadges(
            devices.map((r) => ({ userId: r.userId, deviceId: r.deviceId })),
          )
        : await deps.store.selectBadges(devices);
    } catch (err) {
      for (const r of devices) limiterOf(r)?.release();
      throw err;
    }
    const sent = await Promise.all(
      devices.map((r) =>
        deliver(r, content, badges.get(deviceKey(r.userId, r.deviceId)), collapseKey).finally(() =>
          limiterOf(r)?.release(),
        ),
      ),
    );
    const pushed = sent.filter(Boolean).length;
    return { pushed, failed: sent.length - pushed };
  };

  /** Users past their push rate (each user counted once per push); fails open when the bus cannot count. */
  const overRate = async (devices: readonly PushRegistration[]): Promise<Set<string>> => {
    const { max, windowMs } = deps.userRate;
    if (max === 0) return new Set();
    const now = deps.clock();
    const users = [...new Set(devices.map((r) => r.userId))];
    const counts = await Promise.all(
      users.map((id) =>
        deps.counters.increment("push", id, windowMs, now).catch((err: unknown) => {
          deps.logger.warn("push: rate not counted, sending anyway", { err });
          return 0;
        }),
      ),
    );
    return new Set(users.filter((_, i) => (counts[i] ?? 0) > max));
  };

  return {
    async push(request) {
      const { loud, quiet } = await candidates(request);
      const registered = [...loud, ...quiet];
      if (registered.length === 0) return;
      const live = await request.live([...new Set(registered.map((r) => r.userId))]);
      const notLive = (r: PushRegistration) => live.get(r.userId)?.includes(r.deviceId) !== true;
      const offline = loud.filter(notLive);
      const uncounted = quiet.filter(notLive);
      if (offline.length === 0 && uncounted.length === 0) return;
      const content = await request.content();
      if (content === undefined) return;
      const scope = request.collapseKey;
      if (content.countsBadge) await countQuiet(uncounted, scope);
      const limited = await overRate(offline);
      const allowed: PushRegistration[] = [];
      for (const r of offline) {
        if (limited.has(r.userId)) deps.stats.record(r.target.channel, { failed: "rate-limited" });
        else allowed.push(r);
      }
      for (let i = 0; i < allowed.length; i += deps.concurrency) {
        const chunk = allowed.slice(i, i + deps.concurrency);
        // Slots first, then claims: a claimed device is sent at once (after its
        // badge write), not queued behind other jobs of this process, so a crash
        // leaves claimed but unsent at most this chunk's devices whose requests
        // had not gone out yet. Always APNs before FCM: no deadlock.
        const slots = { apns: 0, fcm: 0 };
        for (const r of chunk) if (limiterOf(r) !== undefined) slots[r.target.channel]++;
        await limiters.apns.acquire(slots.apns);
        await limiters.fcm.acquire(slots.fcm);
        let mine: PushRegistration[];
        try {
          mine = await claimed(chunk, scope);
        } catch (err) {
          for (const r of chunk) limiterOf(r)?.release();
          throw err;
        }
        const sending = new Set(mine);
        for (const r of chunk) if (!sending.has(r)) limiterOf(r)?.release();
        if (mine.length === 0) continue;
        const sent = await sendAll(mine, content, request.collapseKey);
        await request.chunkSent?.(sent);
      }
    },
  };
}
