import type { Component } from "../../common/component.js";
import type { TipStorer } from "../../groups/notifier.js";
import type { GroupMessagingHandlers } from "../../groups/service.js";
import type { GroupMemberRecord, GroupRecord } from "../../groups/store.js";
import { createGroupMessaging, type GroupMessagingDeps } from "./group-messaging.js";

/**
 * What group management uses of group messaging: the message RPCs of
 * GroupService (served with the management RPCs), tips stored as messages,
 * history deleted on disband, and a member's unread count.
 */
export interface GroupMessagingApi {
  handlers: GroupMessagingHandlers;
  storeTip: TipStorer;
  deleteHistory(groupId: string): Promise<void>;
  unreadOf(group: GroupRecord, member: GroupMemberRecord): Promise<number>;
}

export interface GroupMessagingComponent extends Component {
  api: GroupMessagingApi;
}

/** Group messages: send paths, outbox, fan-out handler; GroupService is served by groups. */
export function setupGroupMessaging(deps: GroupMessagingDeps): GroupMessagingComponent {
  const gm = createGroupMessaging(deps);
  return {
    api: {
      handlers: gm.handlers,
      storeTip: gm.storeTip,
      deleteHistory: gm.deleteHistory,
      unreadOf: gm.unreadOf,
    },
    services: [],
    busHandlers: { [deps.bus.registry.subjects.groupMessage]: gm.fanoutHandler },
    workers: [{ name: "group-outbox", start: gm.outbox.start, stop: gm.outbox.stop }],
    stop: async () => {},
  };
}
