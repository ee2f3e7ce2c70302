import { randomUUID } from "node:crypto";
import type { Bus } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers } from "../common/component.js";
import type { Platform } from "../gen/im/v1/events_pb.js";
import { PresenceService } from "../gen/im/v1/presence_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { StateChangeEvent } from "../webhooks/index.js";
import type { PresenceConfig } from "./config.js";
import { createPresence, defaultHasPushRegistration, type Presence } from "./presence.js";
import { createPresenceService } from "./service.js";
import { stateChangeEvent } from "./state-webhook.js";

export interface PresenceSetupDeps {
  bus: Pick<Bus, "openKv">;
  hub: Pick<LiveHub, "publishToUser" | "publishToUsers" | "endSession" | "observeSessions">;
  clock: Clock;
  logger: Logger;
  config: PresenceConfig;
  existingUserIds(userIds: readonly string[]): Promise<Set<string>>;
  /** Users who have `userId` as a friend (PRESENCE_FRIENDS_AUTO_SUBSCRIBE). */
  friendsOf(userId: string): Promise<string[]>;
  /** The state-change webhook (after-style: never awaited). */
  webhooks: { notifyStateChange(event: StateChangeEvent): void };
  /** Defaults to "every mobile device" until the push component answers it. */
  hasPushRegistration?: (userId: string, deviceId: string, platform: Platform) => Promise<boolean>;
  /** A mobile device's stream ended here without a sign-out (see PresenceDeps.deviceAway); none when unset. */
  deviceAway?: (userId: string, deviceId: string) => Promise<void>;
}

export interface PresenceComponent extends Component {
  /** Hooks (session ended, state changes) and queries for other components. */
  presence: Presence;
}

/** Presence: PresenceService, the hub's session observer, the node lease and the reaper. */
export async function setupPresence(deps: PresenceSetupDeps): Promise<PresenceComponent> {
  const { config } = deps;
  const [users, leases, nodes, texts, subs] = await Promise.all([
    deps.bus.openKv("presence-users", { ttlMs: 0 }),
    deps.bus.openKv("presence-leases", { ttlMs: config.heartbeatTimeoutMs }),
    deps.bus.openKv("presence-nodes", { ttlMs: 0 }),
    deps.bus.openKv("presence-texts", { ttlMs: 0 }),
    deps.bus.openKv("presence-subs", { ttlMs: 0 }),
  ]);
  const presence = createPresence({
    buckets: { users, leases, nodes, texts, subs },
    hub: deps.hub,
    clock: deps.clock,
    logger: deps.logger.child({ component: "presence" }),
    config,
    nodeId: randomUUID(),
    hasPushRegistration: deps.hasPushRegistration ?? defaultHasPushRegistration,
    friendsOf: deps.friendsOf,
    deviceAway: deps.deviceAway,
  });
  presence.onStateChange((change) => deps.webhooks.notifyStateChange(stateChangeEvent(change)));
  deps.hub.observeSessions(presence.sessions);
  await presence.start();
  return {
    presence,
    services: [
      (router) =>
        router.service(
          PresenceService,
          createPresenceService({ presence, config, existingUserIds: deps.existingUserIds }),
        ),
    ],
    busHandlers: noBusHandlers,
    workers: [],
    stop: () => presence.stop(),
  };
}
