import { EventService } from "../gen/im/v1/events_pb.js";
import { GroupService } from "../gen/im/v1/group_pb.js";
import { MessageService } from "../gen/im/v1/message_pb.js";
import { ReceiptService } from "../gen/im/v1/receipts_pb.js";
import { TypingService } from "../gen/im/v1/typing_pb.js";
import type { RateClass } from "./settings.js";

const path = (service: { typeName: string }, method: { name: string }) =>
  `${service.typeName}/${method.name}`;

/**
 * Which RPCs count toward which per-user limit; the rest are not limited
 * here. One table, so a new RPC of a class is added in one place.
 */
export const RPC_RATE_CLASSES: ReadonlyMap<string, RateClass> = new Map<string, RateClass>([
  [path(MessageService, MessageService.method.sendMessage), "sends"],
  [path(GroupService, GroupService.method.sendGroupMessage), "sends"],
  [path(MessageService, MessageService.method.syncMessages), "history"],
  [path(MessageService, MessageService.method.listMessages), "history"],
  [path(MessageService, MessageService.method.listConversations), "history"],
  [path(GroupService, GroupService.method.syncGroupMessages), "history"],
  [path(GroupService, GroupService.method.listGroupMessages), "history"],
  [path(ReceiptService, ReceiptService.method.getC2CReceipts), "history"],
  [path(ReceiptService, ReceiptService.method.getGroupReceipts), "history"],
  [path(ReceiptService, ReceiptService.method.listGroupReaders), "history"],
  // Login: opening a device's live stream.
  [path(EventService, EventService.method.subscribe), "sessions"],
  [path(GroupService, GroupService.method.applyJoinGroup), "sessions"],
  [path(GroupService, GroupService.method.quitGroup), "sessions"],
  [path(TypingService, TypingService.method.sendTyping), "typing"],
]);
