import type { PushJob } from "../../gen/im/internal/v1/push_pb.js";
import { type GroupMessage, GroupMessageKind } from "../../gen/im/v1/group_pb.js";
import { storedMessagePushJob } from "../push-job.js";

/**
 * A stored member message's push work: the whole group, expanded into batches
 * of members by the push worker. Tips push nothing.
 */
export function groupPushJob(message: GroupMessage): PushJob | undefined {
  if (message.kind !== GroupMessageKind.NORMAL) return undefined;
  return storedMessagePushJob(
    message,
    { case: "groupId", value: message.groupId },
    { atUserIds: message.atUserIds, atAll: message.atAll },
  );
}
