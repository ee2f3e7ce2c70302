import { create } from "@bufbuild/protobuf";
import { type PushJob, PushJobSchema } from "../../gen/im/internal/v1/push_pb.js";
import { type GroupMessage, GroupMessageKind } from "../../gen/im/v1/group_pb.js";

/**
 * A stored member message's push work: the whole group, expanded into batches
 * of members by the push worker. Tips, online-only and unstored messages push nothing.
 */
export function groupPushJob(message: GroupMessage): PushJob | undefined {
  if (message.kind !== GroupMessageKind.NORMAL) return undefined;
  if (message.onlineOnly || message.seq === 0n || message.offlinePushInfo?.disabled) return;
  return create(PushJobSchema, {
    messageKey: message.messageKey,
    fromUserId: message.fromUserId,
    timeMs: message.timeMs,
    body: message.body,
    ...(message.offlinePushInfo === undefined ? {} : { offlinePushInfo: message.offlinePushInfo }),
    audience: { case: "groupId", value: message.groupId },
    atUserIds: message.atUserIds,
    atAll: message.atAll,
  });
}
