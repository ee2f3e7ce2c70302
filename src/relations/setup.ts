import { randomUUID } from "node:crypto";
import type { AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import type { Config } from "../config/config.js";
import type { C2CSendPolicy } from "../conversations/c2c/send-policy.js";
import { RelationService } from "../gen/im/v1/relation_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { FriendRequestSettings } from "../profiles/profiles.js";
import { createRelations } from "./relations.js";
import {
  createRelationSendPolicy,
  type RelationLookups,
  relationLookupsOf,
} from "./send-policy.js";
import { createRelationService } from "./service.js";
import type { RelationStore } from "./store.js";

export interface RelationsSetupDeps {
  store: RelationStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  /** From profiles: the target's allow-type and the requester's admin-forbid-type. */
  friendRequestSettings(userId: string): Promise<FriendRequestSettings>;
  settings: Config["relations"];
  /** The one-to-one send policy settings. */
  c2cPolicy: Config["c2cPolicy"];
  clock: Clock;
  live: Pick<LiveHub, "publishToUser">;
  /** What the send policy reads; defaults to the store itself (the app passes cached lookups). */
  lookups?: RelationLookups;
}

export interface RelationsComponent extends Component {
  /** For one-to-one messaging: blocklist and friends-only checks. */
  sendPolicy: C2CSendPolicy;
}

/** The relationship chain: RelationService and the one-to-one send policy. */
export function setupRelations(deps: RelationsSetupDeps): RelationsComponent {
  const relations = createRelations({
    store: deps.store,
    accounts: deps.accounts,
    friendRequestSettings: deps.friendRequestSettings,
    limits: deps.settings,
    customFields: deps.settings.customFields,
    clock: deps.clock,
    events: deps.live,
    newListId: randomUUID,
  });
  return {
    sendPolicy: createRelationSendPolicy({
      lookups: deps.lookups ?? relationLookupsOf(deps.store),
      ...deps.c2cPolicy,
    }),
    services: [(router) => router.service(RelationService, createRelationService(relations))],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
