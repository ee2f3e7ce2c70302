import type { Caller } from "../../auth/caller.js";
import { DomainError, ErrorReason, permissionDenied } from "../../errors/domain-error.js";
import { type GroupMessage, GroupMessageKind } from "../../gen/im/v1/group_pb.js";
import { ConversationType } from "../../gen/im/v1/lifecycle_pb.js";
import { requireAllowed } from "../../groups/actor.js";
import { isAllowed } from "../../groups/group-types.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { AfterRecallEvent } from "../../webhooks/index.js";
import type { RecallAccess } from "../kind.js";
import { recalledEvent } from "../recall.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";

/**
 * Group recall: members who can read the group's history may try; the sender
 * recalls their own message within the window; roles the type's matrix allows
 * ("recallOthersMessage": owner, and admins where the type has them) and app
 * admins recall any ordinary message at any time. Tips cannot be recalled.
 */
export async function groupRecallAccess(
  deps: GroupAccessDeps,
  caller: Caller,
  groupId: string,
): Promise<RecallAccess<GroupMessage>> {
  const { group, actor } = await loadGroupAccess(deps, caller, groupId);
  requireAllowed(group, "readHistory", actor);
  const privileged = isAllowed(group.type, "recallOthersMessage", actor);
  return {
    authorityOver(message) {
      if (message.kind !== GroupMessageKind.NORMAL) {
        throw new DomainError(
          "failed-precondition",
          ErrorReason.MESSAGE_NOT_RECALLABLE,
          "only ordinary group messages can be recalled",
          { field: "seq" },
        );
      }
      if (privileged) return "any";
      if (message.fromUserId === caller.userId) return "own";
      throw permissionDenied(
        ErrorReason.RECALL_NOT_ALLOWED,
        "this group type does not let your role recall other members' messages",
      );
    },
  };
}

/**
 * Every online member (on every node) learns of the recall with one publish;
 * members who discard the group's messages never got the message and get no recall.
 */
export function deliverGroupRecalled(
  live: Pick<LiveHub, "publishToGroup">,
  tombstone: GroupMessage,
): void {
  live.publishToGroup(
    tombstone.groupId,
    recalledEvent(ConversationType.GROUP, tombstone.groupId, tombstone),
    { skipDiscarding: true },
  );
}

export const groupAfterRecallEvent = (m: GroupMessage): AfterRecallEvent => ({
  case: "groupAfterRecall",
  value: {
    $typeName: "im.v1.GroupAfterRecallEvent",
    groupId: m.groupId,
    fromAccount: m.fromUserId,
    seq: m.seq,
    msgKey: m.messageKey,
    msgTimeMs: m.timeMs,
    recalledByAccount: m.recall?.recalledByUserId ?? "",
    recalledAtMs: m.recall?.recalledAtMs ?? 0n,
  },
});
