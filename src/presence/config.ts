import { booleanSetting, type Env, enumSetting, intSetting } from "../config/settings.js";
import { LOGIN_POLICIES, type LoginPolicy } from "./platforms.js";

export interface PresenceConfig {
  /** Which platforms may be online at once (reference default: dual). */
  loginPolicy: LoginPolicy;
  /**
   * A node that stops refreshing its lease (killed, cut off) has its devices taken
   * for gone after this long (reference: 400 s heartbeat timeout).
   */
  heartbeatTimeoutMs: number;
  /** How often each node looks for nodes whose lease lapsed, to tell their users' followers. */
  reapIntervalMs: number;
  /** How long a mobile device stays PushOnline after its stream ended (reference: 7 days). */
  pushOnlineMs: number;
  /** Longest custom status text, UTF-8 bytes. */
  statusTextMaxBytes: number;
  /** Users per GetUserStatus call (reference querystate: 500). */
  queryMax: number;
  /** Users one user may follow the status of. */
  subscriptionsMax: number;
  /** Users also follow their friends' status without subscribing (not counted in the cap). */
  friendsAutoSubscribe: boolean;
}

export function readPresenceConfig(env: Env): PresenceConfig {
  const heartbeatTimeoutMs = intSetting(env, "PRESENCE_HEARTBEAT_TIMEOUT_MS", 400_000, {
    min: 1_000,
    max: 86_400_000,
  });
  return {
    loginPolicy: enumSetting(env, "PRESENCE_LOGIN_POLICY", LOGIN_POLICIES, "dual"),
    heartbeatTimeoutMs,
    reapIntervalMs: intSetting(env, "PRESENCE_REAP_INTERVAL_MS", 5_000, {
      min: 100,
      max: 3_600_000,
    }),
    pushOnlineMs: intSetting(env, "PRESENCE_PUSH_ONLINE_MS", 7 * 86_400_000, {
      min: 0,
      max: 365 * 86_400_000,
    }),
    statusTextMaxBytes: intSetting(env, "PRESENCE_STATUS_TEXT_MAX_BYTES", 100, {
      min: 0,
      max: 10_000,
    }),
    queryMax: intSetting(env, "PRESENCE_QUERY_MAX", 500, { min: 1, max: 10_000 }),
    subscriptionsMax: intSetting(env, "PRESENCE_SUBSCRIPTIONS_MAX", 200, { min: 0, max: 100_000 }),
    friendsAutoSubscribe: booleanSetting(env, "PRESENCE_FRIENDS_AUTO_SUBSCRIBE", false),
  };
}
