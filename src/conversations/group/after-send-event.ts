import type { GroupMessage } from "../../gen/im/v1/group_pb.js";
import type { AfterSendEvent } from "../../webhooks/index.js";

/** The group after-send webhook event of a delivered message (body as delivered). */
export const groupAfterSendEvent = (m: GroupMessage): AfterSendEvent => ({
  case: "groupAfterSend",
  value: {
    $typeName: "im.v1.GroupAfterSendEvent",
    fromAccount: m.fromUserId,
    groupId: m.groupId,
    clientMsgId: m.clientMessageId,
    random: m.random,
    body: m.body,
    cloudCustomData: m.cloudCustomData,
    onlineOnly: m.onlineOnly,
    seq: m.seq,
    msgKey: m.messageKey,
    msgTimeMs: m.timeMs,
  },
});
