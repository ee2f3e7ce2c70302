import { create } from "@bufbuild/protobuf";
import { SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import type { GroupMessage } from "../../gen/im/v1/group_pb.js";
import type { MessageEdit } from "../../gen/im/v1/recall_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { BeforeSendEvent } from "../../webhooks/index.js";
import type { Content } from "../kind.js";

export const groupBeforeEditEvent = (
  m: GroupMessage,
  content: Content,
  edit: MessageEdit,
): BeforeSendEvent => ({
  case: "groupBeforeEdit",
  value: {
    $typeName: "im.v1.GroupBeforeEditEvent",
    groupId: m.groupId,
    fromAccount: m.fromUserId,
    seq: m.seq,
    msgKey: m.messageKey,
    body: content.body,
    cloudCustomData: content.cloudCustomData,
    editVersion: edit.version,
    editorAccount: edit.editedByUserId,
  },
});

/**
 * Every online member (every node) gets the new version with one publish, but
 * those discarding the group's messages, who never got the message.
 */
export function deliverGroupEdited(
  live: Pick<LiveHub, "publishToGroup">,
  edited: GroupMessage,
): void {
  live.publishToGroup(
    edited.groupId,
    create(SubscribeResponseSchema, {
      event: { case: "edited", value: { message: { case: "groupMessage", value: edited } } },
    }),
    { skipDiscarding: true },
  );
}
