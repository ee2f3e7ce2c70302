import { create } from "@bufbuild/protobuf";
import { SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import type { Message } from "../../gen/im/v1/message_pb.js";
import type { MessageEdit } from "../../gen/im/v1/recall_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { BeforeSendEvent } from "../../webhooks/index.js";
import type { Content } from "../kind.js";

export const c2cBeforeEditEvent = (
  m: Message,
  content: Content,
  edit: MessageEdit,
): BeforeSendEvent => ({
  case: "c2cBeforeEdit",
  value: {
    $typeName: "im.v1.C2cBeforeEditEvent",
    fromAccount: m.fromUserId,
    toAccount: m.toUserId,
    seq: m.seq,
    msgKey: m.messageKey,
    body: content.body,
    cloudCustomData: content.cloudCustomData,
    editVersion: edit.version,
    editorAccount: edit.editedByUserId,
  },
});

/** Both users' devices (every node) get the new version. */
export function deliverC2cEdited(live: Pick<LiveHub, "publishToUsers">, edited: Message): void {
  const event = create(SubscribeResponseSchema, {
    event: { case: "edited", value: { message: { case: "c2cMessage", value: edited } } },
  });
  live.publishToUsers([edited.toUserId, edited.fromUserId], event);
}
