import { create } from "@bufbuild/protobuf";
import { type SubscribeResponse, SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import type { GroupMessage } from "../../gen/im/v1/group_pb.js";
import type { LiveHub } from "../../live/live-hub.js";

export const groupMessageEvent = (message: GroupMessage): SubscribeResponse =>
  create(SubscribeResponseSchema, { event: { case: "groupMessage", value: message } });

/**
 * Live delivery of a group message to every online member (but `exceptUserId`)
 * who has not chosen to discard the group's messages, on every node, with one
 * publish: no member list is read.
 */
export function deliverGroupMessage(
  live: Pick<LiveHub, "publishToGroup">,
  message: GroupMessage,
  exceptUserId?: string,
): void {
  live.publishToGroup(message.groupId, groupMessageEvent(message), {
    exceptUserIds: exceptUserId === undefined ? [] : [exceptUserId],
    skipDiscarding: true,
  });
}
