import type { AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers } from "../common/component.js";
import type { GroupMessagingApi } from "../conversations/setup.js";
import type { GroupType } from "../gen/im/v1/group_pb.js";
import { GroupService } from "../gen/im/v1/group_pb.js";
import type { Logger } from "../log/logger.js";
import type { GroupChangeEvent } from "../webhooks/index.js";
import type { GroupConfig } from "./config.js";
import { createGroups } from "./groups.js";
import { createGroupNotifier, type GroupLive } from "./notifier.js";
import { createGroupService } from "./service.js";
import type { GroupMemberStore, GroupStore, JoinApplicationStore } from "./store.js";

export interface GroupsSetupDeps {
  groups: GroupStore;
  members: GroupMemberStore;
  applications: JoinApplicationStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  live: GroupLive;
  webhooks: { notifyGroupChange(event: GroupChangeEvent): void };
  /** Group messaging's small API: message RPCs, stored tips, history, unread counts. */
  messaging: GroupMessagingApi;
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  newGroupId: (type: GroupType) => string;
}

/** Group management: GroupService (with group messaging's RPCs) and the tip notifier. */
export function setupGroups(deps: GroupsSetupDeps): Component {
  const { messaging } = deps;
  const notifier = createGroupNotifier({
    live: deps.live,
    config: deps.config,
    clock: deps.clock,
    logger: deps.logger,
    storeTip: messaging.storeTip,
  });
  const groups = createGroups({
    groups: deps.groups,
    members: deps.members,
    applications: deps.applications,
    accounts: deps.accounts,
    notifier,
    webhooks: deps.webhooks,
    config: deps.config,
    clock: deps.clock,
    logger: deps.logger,
    newGroupId: deps.newGroupId,
    deleteHistory: messaging.deleteHistory,
    readStatesOf: messaging.readStatesOf,
  });
  return {
    services: [
      (router) => router.service(GroupService, createGroupService(groups, messaging.handlers)),
    ],
    busHandlers: noBusHandlers,
    workers: [],
    // Tips still queued go out before the bus and store close.
    stop: () => notifier.drain(),
  };
}
