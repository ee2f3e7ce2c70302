import type { Collection, Db } from "mongodb";
import type { DoNotDisturbWindow } from "../../push/do-not-disturb.js";
import {
  deviceKey,
  type PushChannel,
  type PushRegistration,
  type PushTarget,
  type PushTokenStore,
} from "../../push/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard, isDuplicateKey } from "./guard.js";

interface PushDoc {
  /** "<userId>/<deviceId>": neither may contain "/" (validated at the service edge). */
  _id: string;
  userId: string;
  deviceId: string;
  channel: PushChannel;
  token: string;
  /** "<channel>:<token>", unique: a token has one owner. */
  tokenKey: string;
  environment?: "sandbox" | "production";
  bundleId?: string;
  updatedAtMs: number;
  /** Where the badge was kept before it moved to the badge shards; carried over on first read. */
  badge?: number;
}

/** A device's badge, beside its registration (same _id); present exactly while it is registered. */
interface BadgeDoc {
  _id: string;
  badge: number;
}

/**
 * Badges change on every push. Where an update scans its collection's table
 * (FerretDB: ~8 ms of its CPU per +1 at 5,000 registrations), they are spread
 * over this many small collections by a hash of _id, so each update scans only
 * its share; elsewhere they are one collection.
 */
const SCANNING_BADGE_SHARDS = 16;

function shardOf(id: string, shards: number): number {
  // FNV-1a: stable across processes and releases (the shard is where the badge lives).
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

const idOf = (userId: string, deviceId: string) => `${userId}/${deviceId}`;
const tokenKeyOf = (channel: PushChannel, token: string) => `${channel}:${token}`;

export async function createMongoPushTokenStore(
  db: Db,
  capabilities: Pick<MongoCapabilities, "indexedIdIn" | "indexedUpdates">,
): Promise<PushTokenStore> {
  const regs = db.collection<PushDoc>("push_registrations");
  const badgeShards: Collection<BadgeDoc>[] = capabilities.indexedUpdates
    ? [db.collection<BadgeDoc>("push_badges")]
    : Array.from({ length: SCANNING_BADGE_SHARDS }, (_, i) =>
        db.collection<BadgeDoc>(`push_badges_${String(i).padStart(2, "0")}`),
      );
  const badgesOf = (id: string) =>
    badgeShards[shardOf(id, badgeShards.length)] as Collection<BadgeDoc>;
  /** Ids grouped by the shard their badge lives in. */
  const byShard = (ids: readonly string[]) => {
    const groups = new Map<Collection<BadgeDoc>, string[]>();
    for (const id of ids) {
      const c = badgesOf(id);
      const group = groups.get(c);
      if (group === undefined) groups.set(c, [id]);
      else group.push(id);
    }
    return groups;
  };
  /**
   * Badges of registered devices by _id, each read by exact _id. A registration
   * without a badge (written before badges moved here, or a crash between the
   * two writes) gets one, so its pushes count again.
   */
  const readBadges = async (ids: readonly string[]) => {
    // One `$in` per shard where the server answers it from the index; else exact finds.
    const docs = capabilities.indexedIdIn
      ? (
          await Promise.all(
            [...byShard(ids)].map(([badges, shardIds]) =>
              badges.find({ _id: { $in: shardIds } }).toArray(),
            ),
          )
        ).flat()
      : await Promise.all(ids.map((_id) => badgesOf(_id).findOne({ _id })));
    const out = new Map<string, number>();
    for (const d of docs) if (d !== null) out.set(d._id, d.badge);
    const missing = ids.filter((id) => !out.has(id));
    await Promise.all(
      missing.map(async (_id) => {
        const reg = await regs.findOne({ _id }, { projection: { badge: 1 } });
        if (reg === null) return;
        const badge = reg.badge ?? 0;
        try {
          await badgesOf(_id).insertOne({ _id, badge });
          out.set(_id, badge);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          const now = await badgesOf(_id).findOne({ _id });
          if (now !== null) out.set(_id, now.badge);
        }
      }),
    );
    return out;
  };
  const badgesByDevice = async (devices: readonly { userId: string; deviceId: string }[]) => {
    const badges = await readBadges(devices.map((d) => idOf(d.userId, d.deviceId)));
    const out = new Map<string, number>();
    for (const d of devices) {
      const badge = badges.get(idOf(d.userId, d.deviceId));
      if (badge !== undefined) out.set(deviceKey(d.userId, d.deviceId), badge);
    }
    return out;
  };
  /** Removes registrations (found beforehand) and then their badges. */
  const removeRegistrations = async (ids: readonly string[]) => {
    if (ids.length === 0) return 0;
    const { deletedCount } = await regs.deleteMany({ _id: { $in: [...ids] } });
    await Promise.all(ids.map((_id) => badgesOf(_id).deleteOne({ _id })));
    return deletedCount;
  };
  // _id is the user id.
  const quiet = db.collection<DoNotDisturbWindow & { _id: string }>("push_do_not_disturb");
  await guard(() =>
    Promise.all([
      regs.createIndex({ tokenKey: 1 }, { unique: true }),
      regs.createIndex({ userId: 1 }),
    ]),
  );
  const upsertOnce = async (
    userId: string,
    deviceId: string,
    target: PushTarget,
    nowMs: number,
  ) => {
    const _id = idOf(userId, deviceId);
    const tokenKey = tokenKeyOf(target.channel, target.token);
    // No transactions (FerretDB): free the token first, then write; a concurrent
    // registration of the same token makes the write fail on the unique index.
    const holders = await regs
      .find({ tokenKey, _id: { $ne: _id } }, { projection: { _id: 1 } })
      .toArray();
    await removeRegistrations(holders.map((d) => d._id));
    const doc: PushDoc = {
      _id,
      userId,
      deviceId,
      channel: target.channel,
      token: target.token,
      tokenKey,
      ...(target.channel === "apns"
        ? { environment: target.environment, bundleId: target.bundleId }
        : {}),
      updatedAtMs: nowMs,
    };
    // Badge after registration: a crash between leaves a registration with badge 0.
    await regs.replaceOne({ _id }, doc, { upsert: true });
    await badgesOf(_id).replaceOne({ _id }, { badge: 0 }, { upsert: true });
  };
  return {
    upsertPushRegistration: (userId, deviceId, target, nowMs) =>
      guard(async () => {
        try {
          await upsertOnce(userId, deviceId, target, nowMs);
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          // Lost a race for the token: the latest registration wins, so free it again.
          await upsertOnce(userId, deviceId, target, nowMs);
        }
      }),
    deletePushRegistration: (userId, deviceId) =>
      guard(async () => {
        const _id = idOf(userId, deviceId);
        const { deletedCount } = await regs.deleteOne({ _id });
        await badgesOf(_id).deleteOne({ _id });
        return deletedCount > 0;
      }),
    deletePushToken: (channel, token) =>
      guard(async () => {
        const doc = await regs.findOneAndDelete({ tokenKey: tokenKeyOf(channel, token) });
        if (doc === null) return false;
        await badgesOf(doc._id).deleteOne({ _id: doc._id });
        return true;
      }),
    selectPushRegistrations: (userIds) =>
      guard(async () => {
        if (userIds.length === 0) return [];
        // One scan per batch of users: registrations are keyed by device, not user.
        const docs = await regs.find({ userId: { $in: [...userIds] } }).toArray();
        return docs.map(toRegistration);
      }),
    selectBadges: (devices) => guard(() => badgesByDevice(devices)),
    updateBadge: (userId, deviceId, badge) =>
      guard(async () => {
        const _id = idOf(userId, deviceId);
        await badgesOf(_id).updateOne({ _id }, { $set: { badge } });
      }),
    incrementBadges: (devices) =>
      guard(async () => {
        const out = new Map<string, number>();
        if (devices.length === 0) return out;
        const ids = devices.map((d) => idOf(d.userId, d.deviceId));
        // Without upsert: a device that is not registered has no badge to count.
        await Promise.all(
          [...byShard(ids)].map(([badges, shardIds]) =>
            badges.bulkWrite(
              shardIds.map((_id) => ({
                updateOne: { filter: { _id }, update: { $inc: { badge: 1 } } },
              })),
              { ordered: false },
            ),
          ),
        );
        // A device missing a badge here gets one on this read: counted from the next push.
        return badgesByDevice(devices);
      }),
    upsertDoNotDisturb: (userId, window) =>
      guard(async () => {
        if (window === undefined) await quiet.deleteOne({ _id: userId });
        else await quiet.replaceOne({ _id: userId }, { ...window }, { upsert: true });
      }),
    selectDoNotDisturb: (userIds) =>
      guard(async () => {
        const out = new Map<string, DoNotDisturbWindow>();
        if (userIds.length === 0) return out;
        for (const d of await quiet.find({ _id: { $in: [...userIds] } }).toArray()) {
          out.set(d._id, {
            startMinute: d.startMinute,
            endMinute: d.endMinute,
            timeZone: d.timeZone,
          });
        }
        return out;
      }),
  };
}

function toRegistration(d: PushDoc): PushRegistration {
  const target: PushTarget =
    d.channel === "apns"
      ? {
          channel: "apns",
          token: d.token,
          environment: d.environment ?? "production",
          bundleId: d.bundleId ?? "",
        }
      : { channel: "fcm", token: d.token };
  return {
    userId: d.userId,
    deviceId: d.deviceId,
    target,
    updatedAtMs: d.updatedAtMs,
  };
}
