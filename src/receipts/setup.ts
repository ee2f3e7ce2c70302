import type { Clock } from "../common/clock.js";
import type { Component } from "../common/component.js";
import { noBusHandlers } from "../common/component.js";
import type { MessageStore } from "../conversations/c2c/store.js";
import type { GroupMessageStore } from "../conversations/group/store.js";
import type { ReadObserver } from "../conversations/read-observer.js";
import { ReceiptService } from "../gen/im/v1/receipts_pb.js";
import type { GroupConfig } from "../groups/config.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import { createC2cReceipts } from "./c2c-receipts.js";
import { createGroupReceiptEvents } from "./group-receipt-events.js";
import { createGroupReceipts } from "./group-receipts.js";
import { createReceiptService } from "./service.js";
import type { ReceiptSettings } from "./settings.js";
import type { ReceiptStore } from "./store.js";

export interface ReceiptsSetupDeps {
  store: ReceiptStore;
  messages: Pick<MessageStore, "selectLastSeq" | "selectReadSeq">;
  groupMessages: Pick<GroupMessageStore, "selectReceiptRequests" | "selectMessage">;
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  live: Pick<LiveHub, "publishToUser">;
  settings: ReceiptSettings;
  groupConfig: GroupConfig;
  clock: Clock;
  logger: Logger;
  retentionMs: number;
  writeBatchMax: number;
}

export interface ReceiptsComponent extends Component {
  /** What conversations tell receipts of reads and syncs. */
  observer: ReadObserver;
}

/**
 * Receipts (README "Receipts"): ReceiptService, the one-to-one watermarks and
 * group readers that reads and syncs record, and the events to senders.
 */
export function setupReceipts(deps: ReceiptsSetupDeps): ReceiptsComponent {
  const c2c = createC2cReceipts({
    store: deps.store,
    messages: deps.messages,
    live: deps.live,
    ackMax: deps.settings.ackMax,
  });
  const events = createGroupReceiptEvents({
    windowMs: deps.settings.groupEventMs,
    countReads: (key) => deps.store.countGroupReads(key),
    live: deps.live,
    logger: deps.logger,
  });
  const group = createGroupReceipts({
    store: deps.store,
    messages: deps.groupMessages,
    groups: deps.groups,
    members: deps.members,
    config: deps.groupConfig,
    events,
    clock: deps.clock,
    retentionMs: deps.retentionMs,
    writeBatchMax: deps.writeBatchMax,
    readersPageMax: deps.settings.readersPageMax,
  });
  return {
    observer: {
      c2cRead: c2c.read,
      c2cSynced: c2c.delivered,
      groupRead: group.read,
      groupHistoryDeleted: (groupId) => deps.store.deleteGroupReads(groupId),
    },
    services: [(router) => router.service(ReceiptService, createReceiptService(c2c, group))],
    busHandlers: noBusHandlers,
    workers: [],
    stop: () => events.stop(),
  };
}
