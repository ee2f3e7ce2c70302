import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import { PushService } from "../gen/im/v1/push_pb.js";
import { createPushService } from "./service.js";
import type { PushTokenStore } from "./store.js";

export interface PushSetupDeps {
  store: PushTokenStore;
  clock: Clock;
}

/** Push: PushService (device registrations). */
export function setupPush(deps: PushSetupDeps): Component {
  return {
    services: [(router) => router.service(PushService, createPushService(deps))],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
