import { create } from "@bufbuild/protobuf";
import type { Caller } from "../../auth/caller.js";
import type { Clock } from "../../common/clock.js";
import { assertUserIdBatch } from "../../common/user-id.js";
import { ErrorReason, permissionDenied } from "../../errors/domain-error.js";
import {
  GroupMessageKind,
  GroupMessageSchema,
  type SendGroupSystemMessageRequest,
} from "../../gen/im/v1/group_pb.js";
import type { GroupMemberStore } from "../../groups/store.js";
import type { LiveHub } from "../../live/live-hub.js";
import { type MessageLimits, validateMessage } from "../validate-body.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";
import { deliverGroupMessage, groupMessageEvent } from "./delivery.js";

export interface SystemMessageDeps extends GroupAccessDeps {
  members: Pick<GroupMemberStore, "selectMember" | "selectMembers">;
  live: Pick<LiveHub, "publishToUsers" | "publishToGroup">;
  clock: Clock;
  messageLimits: MessageLimits;
}

/** Most members one system message may name. */
const SYSTEM_RECIPIENTS_MAX = 500;

/**
 * App admin only: a system message to the online members (all, or those named).
 * Never stored, no seq, no webhooks, not frequency-controlled (reference:
 * "Group system messages ... are not subject to frequency control"). Live
 * delivery reaches only open streams, which is what "online" means here.
 */
export function createSendGroupSystemMessage(deps: SystemMessageDeps) {
  return async (caller: Caller, req: SendGroupSystemMessageRequest): Promise<bigint> => {
    if (!caller.isAdmin) {
      throw permissionDenied(
        ErrorReason.GROUP_PERMISSION_DENIED,
        "only app administrators send system messages",
      );
    }
    validateMessage({ body: req.body, cloudCustomData: "" }, deps.messageLimits);
    const named =
      req.toUserIds.length === 0
        ? undefined
        : assertUserIdBatch(req.toUserIds, "to_user_ids", SYSTEM_RECIPIENTS_MAX);
    const { group } = await loadGroupAccess(deps, caller, req.groupId);
    const message = create(GroupMessageSchema, {
      groupId: group.groupId,
      kind: GroupMessageKind.SYSTEM,
      timeMs: BigInt(deps.clock()),
      body: req.body,
      onlineOnly: true,
      noUnread: true,
    });
    if (named !== undefined) {
      const members = await deps.members.selectMembers(group.groupId, named);
      deps.live.publishToUsers(
        members.map((m) => m.userId),
        groupMessageEvent(message),
      );
    } else {
      deliverGroupMessage(deps.live, message);
    }
    return message.timeMs;
  };
}
