import type { ReadListener } from "../conversations/read-observer.js";
import type { Logger } from "../log/logger.js";
import type { ReachableLive } from "./reachable.js";
import type { PushRegistration, PushTokenStore } from "./store.js";

export interface BadgeSyncDeps {
  store: Pick<PushTokenStore, "selectPushRegistrations" | "updateBadge">;
  /** The user's total unread (the conversations component's, bounded). */
  unreadTotal(userId: string): Promise<number>;
  reachableLive: ReachableLive;
  logger: Logger;
}

/**
 * The badge is the recipient's total unread. Computing a total per recipient
 * on the push path would cost a 10,000-member group push 10,000 totals, so the
 * total is taken only when it changes what a device will show next: when a
 * device turns PushOnline, and when the user reads while some registered
 * device is not Online. Between those points each counted push adds 1.
 */
export interface BadgeSync {
  /** A mobile device's stream ended without a sign-out: with a registration, badges restart from the total. */
  deviceAway(userId: string, deviceId: string): Promise<void>;
  /**
   * The user read something: badges of devices that may be pushed drop to the
   * new total, in the background (the read does not wait: a total costs about
   * a conversation list and a count per conversation with unread), one total
   * at a time per user, reads during it coalesced into one more.
   */
  userRead(userId: string): void;
  /** Resolves once no read's badge update is in flight (tests, shutdown). */
  settled(): Promise<void>;
}

export function createBadgeSync(deps: BadgeSyncDeps): BadgeSync {
  const { store } = deps;
  const setAll = async (userId: string, registrations: readonly PushRegistration[]) => {
    const total = await deps.unreadTotal(userId);
    await Promise.all(registrations.map((r) => store.updateBadge(userId, r.deviceId, total)));
  };
  // Best effort: a badge left behind is corrected at the next of these points.
  const logged = (what: string, userId: string, run: () => Promise<void>) =>
    run().catch((err: unknown) => {
      deps.logger.warn(`push: badge not set after ${what}`, { userId, err });
    });
  /** Per user with an update in flight: whether another read came during it, and its end. */
  const inFlight = new Map<string, { again: boolean; done: Promise<void> }>();
  const afterRead = async (userId: string) => {
    const registrations = await store.selectPushRegistrations([userId]);
    if (registrations.length === 0) return;
    // All registered devices Online: none is pushed, and each is set when it goes away.
    const live = (await deps.reachableLive([userId])).get(userId) ?? [];
    if (registrations.every((r) => live.includes(r.deviceId))) return;
    await setAll(userId, registrations);
  };
  return {
    deviceAway: (userId, deviceId) =>
      logged("a device went away", userId, async () => {
        const registrations = await store.selectPushRegistrations([userId]);
        if (!registrations.some((r) => r.deviceId === deviceId)) return;
        await setAll(userId, registrations);
      }),
    userRead(userId) {
      const running = inFlight.get(userId);
      if (running !== undefined) {
        running.again = true;
        return;
      }
      const state = { again: false, done: Promise.resolve() };
      inFlight.set(userId, state);
      state.done = (async () => {
        do {
          state.again = false;
          await logged("a read", userId, () => afterRead(userId));
        } while (state.again);
        inFlight.delete(userId);
      })();
    },
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight.values()].map((s) => s.done));
    },
  };
}

/** What the badge hears of reads: reads that moved a read seq. */
export const badgeReadListener = (badges: BadgeSync): ReadListener => ({
  c2cRead: async (owner) => badges.userRead(owner),
  groupRead: async (_group, userId, afterSeq, readSeq) => {
    // MarkGroupRead tells reads that may raise nothing (a read seq already there).
    if (readSeq > afterSeq) badges.userRead(userId);
  },
});
