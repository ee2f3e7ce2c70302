import type { Bus } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import { EventService } from "../gen/im/v1/events_pb.js";
import type { Logger } from "../log/logger.js";
import { createLiveHub, type FollowedGroup, type LiveHub } from "./live-hub.js";
import { createEventService } from "./service.js";

export interface LiveSetupDeps {
  bus: Pick<Bus, "publishLive" | "subscribeLive" | "flushLive" | "registry">;
  clock: Clock;
  logger: Logger;
  settings: {
    keepAliveMs: number;
    streamQueueMax: number;
    streamsPerUserMax: number;
    streamAuthorityCheckMs: number;
  };
  /** The groups a user is in, read when the user's first stream opens on this node. */
  groupsOf: (userId: string) => Promise<readonly FollowedGroup[]>;
  /** Aborted when shutdown begins, so open streams end cleanly. */
  streamsShutdown: AbortSignal;
}

export interface LiveComponent extends Component {
  /** Delivery to users' open streams on any node; the other components publish through it. */
  hub: LiveHub;
}

/** Live delivery: the hub and EventService. */
export function setupLive(deps: LiveSetupDeps): LiveComponent {
  const hub = createLiveHub({
    bus: deps.bus,
    clock: deps.clock,
    logger: deps.logger,
    keepAliveMs: deps.settings.keepAliveMs,
    maxQueuedEvents: deps.settings.streamQueueMax,
    maxStreamsPerUser: deps.settings.streamsPerUserMax,
    authorityCheckMs: deps.settings.streamAuthorityCheckMs,
    groupsOf: deps.groupsOf,
  });
  return {
    hub,
    services: [
      (router) => router.service(EventService, createEventService(hub, deps.streamsShutdown)),
    ],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
