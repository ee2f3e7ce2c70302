import { type Db, MongoServerError } from "mongodb";
import type { DoNotDisturbWindow } from "../../push/do-not-disturb.js";
import {
  deviceKey,
  type PushChannel,
  type PushRegistration,
  type PushTarget,
  type PushTokenStore,
} from "../../push/store.js";
import { DUPLICATE_KEY, guard } from "./guard.js";

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
  badge: number;
  updatedAtMs: number;
}

const idOf = (userId: string, deviceId: string) => `${userId}/${deviceId}`;
const tokenKeyOf = (channel: PushChannel, token: string) => `${channel}:${token}`;

export async function createMongoPushTokenStore(db: Db): Promise<PushTokenStore> {
  const regs = db.collection<PushDoc>("push_registrations");
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
    await regs.deleteMany({ tokenKey, _id: { $ne: _id } });
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
      badge: 0,
      updatedAtMs: nowMs,
    };
    await regs.replaceOne({ _id }, doc, { upsert: true });
  };
  return {
    upsertPushRegistration: (userId, deviceId, target, nowMs) =>
      guard(async () => {
        try {
          await upsertOnce(userId, deviceId, target, nowMs);
        } catch (err) {
          if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
          // Lost a race for the token: the latest registration wins, so free it again.
          await upsertOnce(userId, deviceId, target, nowMs);
        }
      }),
    deletePushRegistration: (userId, deviceId) =>
      guard(async () => (await regs.deleteOne({ _id: idOf(userId, deviceId) })).deletedCount > 0),
    deletePushToken: (channel, token) =>
      guard(
        async () =>
          (await regs.deleteOne({ tokenKey: tokenKeyOf(channel, token) })).deletedCount > 0,
      ),
    selectPushRegistrations: (userIds) =>
      guard(async () => {
        if (userIds.length === 0) return [];
        const docs = await regs.find({ userId: { $in: [...userIds] } }).toArray();
        return docs.map(toRegistration);
      }),
    updateBadge: (userId, deviceId, badge) =>
      guard(async () => {
        await regs.updateOne({ _id: idOf(userId, deviceId) }, { $set: { badge } });
      }),
    incrementBadges: (devices) =>
      guard(async () => {
        const out = new Map<string, number>();
        if (devices.length === 0) return out;
        const ids = devices.map((d) => idOf(d.userId, d.deviceId));
        await regs.bulkWrite(
          ids.map((_id) => ({ updateOne: { filter: { _id }, update: { $inc: { badge: 1 } } } })),
          { ordered: false },
        );
        const docs = await regs
          .find({ _id: { $in: ids } }, { projection: { userId: 1, deviceId: 1, badge: 1 } })
          .toArray();
        for (const d of docs) out.set(deviceKey(d.userId, d.deviceId), d.badge);
        return out;
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
    badge: d.badge,
    updatedAtMs: d.updatedAtMs,
  };
}
