import type { DoNotDisturbWindow } from "./do-not-disturb.js";

/** Where a device's notifications go; later Android vendor channels add kinds. */
export type PushTarget =
  | { channel: "apns"; token: string; environment: "sandbox" | "production"; bundleId: string }
  | { channel: "fcm"; token: string };

export type PushChannel = PushTarget["channel"];

/** One device's registration. */
export interface PushRegistration {
  userId: string;
  deviceId: string;
  target: PushTarget;
  updatedAtMs: number;
}

/** Storage port of the push component: one registration per (user, device), one owner per token. */
export interface PushTokenStore {
  /**
   * Registers `target` for (userId, deviceId), replacing that device's previous
   * registration, and removes every other registration holding the same
   * (channel, token): a token has one owner, the latest to register it. Resets
   * the badge to 0.
   */
  upsertPushRegistration(
    userId: string,
    deviceId: string,
    target: PushTarget,
    nowMs: number,
  ): Promise<void>;
  /** Removes the device's registration; false when it had none. */
  deletePushRegistration(userId: string, deviceId: string): Promise<boolean>;
  /**
   * Removes the registration holding (channel, token), whoever owns it (the
   * provider said the token is dead); false when none holds it any more (it was
   * re-registered elsewhere with a new token, or removed already).
   */
  deletePushToken(channel: PushChannel, token: string): Promise<boolean>;
  /** Registrations of the given users (users without one are absent), in no set order. */
  selectPushRegistrations(userIds: readonly string[]): Promise<PushRegistration[]>;
  /**
   * The badge last pushed to (or reported by) each given device, by
   * `deviceKey(userId, deviceId)`; devices without a registration are absent.
   * Apart from the registrations: a push reads it only when it does not count.
   */
  selectBadges(
    devices: readonly { userId: string; deviceId: string }[],
  ): Promise<Map<string, number>>;
  /** Sets the badge of a device's registration; a device without one is a no-op. */
  updateBadge(userId: string, deviceId: string, badge: number): Promise<void>;
  /**
   * Adds 1 to the badge of each given device's registration and returns the new
   * values by `deviceKey(userId, deviceId)`; devices without a registration are absent.
   */
  incrementBadges(
    devices: readonly { userId: string; deviceId: string }[],
  ): Promise<Map<string, number>>;
  /** Sets the user's do-not-disturb window, replacing any; undefined removes it. */
  upsertDoNotDisturb(userId: string, window: DoNotDisturbWindow | undefined): Promise<void>;
  /** Windows of the given users that have one. */
  selectDoNotDisturb(userIds: readonly string[]): Promise<Map<string, DoNotDisturbWindow>>;
}

/** Key of one device in maps the store returns. */
export const deviceKey = (userId: string, deviceId: string): string => `${userId}\u0000${deviceId}`;
