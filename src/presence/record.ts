/**
 * A user's presence record, one KV entry per user: the devices that are signed in
 * and where their stream is. Pure functions; the KV round trips are in presence-state.ts.
 */
import { type Platform, UserStatus } from "../gen/im/v1/events_pb.js";
import { isMobile } from "./platforms.js";

export interface DeviceEntry {
  platform: Platform;
  /** "online": a stream is open on `nodeId`; "away": it ended without a logout. */
  state: "online" | "away";
  nodeId: string;
  streamId: string;
  /** When it entered `state`, ms. */
  sinceMs: number;
  /**
   * When its stream opened (the live hub's order of a device's streams): of two
   * logins in one slot the newer stream wins, whichever write lands last.
   * Absent in records written before it existed (counts as oldest).
   */
  openedAtMs?: number;
}

/** Whether `d`'s stream opened after the stream (`openedAtMs`, `streamId`); the live hub's order. */
export const openedAfter = (d: DeviceEntry, openedAtMs: number, streamId: string): boolean => {
  const at = d.openedAtMs ?? 0;
  return at > openedAtMs || (at === openedAtMs && d.streamId > streamId);
};

export interface UserRecord {
  devices: Record<string, DeviceEntry>;
}

export const emptyRecord = (): UserRecord => ({ devices: {} });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeRecord = (r: UserRecord): Uint8Array => encoder.encode(JSON.stringify(r));

export function decodeRecord(data: Uint8Array): UserRecord {
  const parsed = JSON.parse(decoder.decode(data)) as Partial<UserRecord> | null;
  return { devices: { ...(parsed?.devices ?? {}) } };
}

/** A copy to change (a JSON round trip of each login's record cost more than the rest of it). */
export const cloneRecord = (r: UserRecord): UserRecord => ({
  // fromEntries defines own properties, as JSON.parse did (a device id "__proto__" stays a key).
  devices: Object.fromEntries(Object.entries(r.devices).map(([id, d]) => [id, { ...d }])),
});

/** What a device's status depends on besides its entry. */
export interface StatusContext {
  nowMs: number;
  pushOnlineMs: number;
  /** Whether the node holding an online stream still refreshes its lease. */
  nodeAlive(nodeId: string): boolean;
  /** Whether the device can receive offline push (asked only for mobile devices). */
  pushRegistered(deviceId: string): boolean;
}

/** One device's status (OFFLINE for a device that is no longer signed in). */
export function deviceStatus(deviceId: string, d: DeviceEntry, ctx: StatusContext): UserStatus {
  if (d.state === "online" && ctx.nodeAlive(d.nodeId)) return UserStatus.ONLINE;
  // An online entry on a dead node is a stream lost without a logout, like "away".
  if (!isMobile(d.platform) || !ctx.pushRegistered(deviceId)) return UserStatus.OFFLINE;
  return ctx.nowMs - d.sinceMs < ctx.pushOnlineMs ? UserStatus.PUSH_ONLINE : UserStatus.OFFLINE;
}

const RANK: Record<UserStatus, number> = {
  [UserStatus.UNSPECIFIED]: 0,
  [UserStatus.OFFLINE]: 1,
  [UserStatus.PUSH_ONLINE]: 2,
  [UserStatus.ONLINE]: 3,
};

/** The user's status: the best of the devices' (Online > PushOnline > Offline). */
export function userStatus(r: UserRecord, ctx: StatusContext): UserStatus {
  let best = UserStatus.OFFLINE;
  for (const [id, d] of Object.entries(r.devices)) {
    const s = deviceStatus(id, d, ctx);
    if (RANK[s] > RANK[best]) best = s;
  }
  return best;
}

/**
 * Drops devices that are Offline for good whatever the push registration says:
 * non-mobile devices that left, mobile ones past the PushOnline period.
 */
export function pruneRecord(r: UserRecord, nowMs: number, pushOnlineMs: number): void {
  for (const [id, d] of Object.entries(r.devices)) {
    if (d.state === "away" && (!isMobile(d.platform) || nowMs - d.sinceMs >= pushOnlineMs)) {
      delete r.devices[id];
    }
  }
}
