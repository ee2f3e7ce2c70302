import { MAX_COUNTER_WINDOW_MS } from "../bus/index.js";
import { type Env, intSetting } from "../config/settings.js";

/** The classes of calls limited per user (README "Moderation and rate limits"). */
export type RateClass = "sends" | "history" | "sessions" | "typing";
export const rateClasses: readonly RateClass[] = ["sends", "history", "sessions", "typing"];

export interface RateLimitSettings {
  /** Length of the counting window (a fixed window, the same on every node). */
  windowMs: number;
  /** Calls per user and window for each class; 0 turns the class off. */
  max: Readonly<Record<RateClass, number>>;
}

/**
 * RATE_LIMIT_* settings. Defaults are LeanCloud's per-client limits: 60
 * messages, 120 history queries and 30 join/leave/login operations per minute;
 * typing signals have a limit of their own.
 */
export function readRateLimitSettings(env: Env): RateLimitSettings {
  const max = (name: string, fallback: number) =>
    intSetting(env, name, fallback, { min: 0, max: 1_000_000 });
  return {
    windowMs: intSetting(env, "RATE_LIMIT_WINDOW_MS", 60_000, {
      min: 1000,
      max: MAX_COUNTER_WINDOW_MS,
    }),
    max: {
      sends: max("RATE_LIMIT_SENDS", 60),
      history: max("RATE_LIMIT_HISTORY", 120),
      sessions: max("RATE_LIMIT_SESSIONS", 30),
      // Typing signals: clients resend one every few seconds while typing.
      typing: max("RATE_LIMIT_TYPING", 60),
    },
  };
}
