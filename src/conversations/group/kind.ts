import { create } from "@bufbuild/protobuf";
import type { AccountStore } from "../../accounts/store.js";
import type { Caller } from "../../auth/caller.js";
import type { Clock } from "../../common/clock.js";
import { enumFromRequest } from "../../common/proto-enum.js";
import { assertUserId } from "../../common/user-id.js";
import {
  DomainError,
  ErrorReason,
  invalidField,
  notFound,
  permissionDenied,
} from "../../errors/domain-error.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessagePriority,
  GroupMessagePrioritySchema,
  GroupMessageSchema,
  type SendGroupMessageRequest,
  type SendGroupMessageResponse,
  SendGroupMessageResponseSchema,
} from "../../gen/im/v1/group_pb.js";
import { ConversationType } from "../../gen/im/v1/lifecycle_pb.js";
import { requireAllowed } from "../../groups/actor.js";
import type { GroupConfig } from "../../groups/config.js";
import type { Actor } from "../../groups/group-types.js";
import type { GroupMemberStore, GroupRecord, GroupStore } from "../../groups/store.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { Logger } from "../../log/logger.js";
import { editedOf } from "../edit.js";
import type { ConversationKind } from "../kind.js";
import { tombstoneOf } from "../recall.js";
import { checkAdminOptions, MAX_CLIENT_MESSAGE_ID_BYTES } from "../send-steps.js";
import { bodyProblem, type MessageLimits, validateMessage } from "../validate-body.js";
import { type GroupAccessDeps, groupParticipantView, loadGroupAccess } from "./access.js";
import { groupAfterSendEvent } from "./after-send-event.js";
import { groupDedupKey } from "./dedup-key.js";
import { deliverGroupMessage } from "./delivery.js";
import { deliverGroupEdited, groupBeforeEditEvent } from "./edit.js";
import { decodeGroupFanoutEvent, encodeGroupFanoutEvent } from "./fanout-event.js";
import { checkMentions } from "./mentions.js";
import { groupPushJob } from "./push-job.js";
import type { GroupRateLimiter } from "./rate-limiter.js";
import { deliverGroupRecalled, groupAfterRecallEvent, groupRecallAccess } from "./recall.js";
import type { GroupMessageRecord, GroupMessageStore } from "./store.js";

export interface GroupKindDeps extends GroupAccessDeps {
  groups: Pick<GroupStore, "selectGroup" | "allocateGroupSeqs">;
  members: Pick<
    GroupMemberStore,
    "selectMember" | "selectMembers" | "selectMutes" | "updateMemberLastSend"
  >;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  /** The group stores read fresh (`groups`/`members` may be the send path's caches). */
  current: GroupAccessDeps;
  messages: GroupMessageStore;
  live: Pick<LiveHub, "publishToGroup">;
  limiter: GroupRateLimiter;
  /** The bus subject of group fan-out events. */
  subject: string;
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  messageLimits: MessageLimits;
}

/** Most members one message may @-mention. */
const AT_USERS_MAX = 100;

export type GroupKind = ConversationKind<
  SendGroupMessageRequest,
  GroupMessage,
  GroupMessageRecord,
  SendGroupMessageResponse
>;

/**
 * Group conversations: the group id is the conversation id and its seqs come
 * from the group document (taking one activates a Work group). The sender
 * must be allowed by the group type and not muted (app admins may send as
 * anyone); frequency control runs after the before-send webhook because the
 * reference fires that webhook for messages it then drops. One live publish
 * reaches every online member on every node; no member list is read.
 *
 * AVChatRoom keeps no history: its messages take no seq and go at once to the
 * online members. So do online-only messages of every type.
 */
export function createGroupKind(deps: GroupKindDeps): GroupKind {
  const { clock, config } = deps;

  /** An admin sending as a user needs that account; sending as itself it is the system. */
  async function checkSenderAccount(caller: Caller, fromUserId: string): Promise<void> {
    if (fromUserId === caller.userId) return;
    const existing = await deps.accounts.selectExistingUserIds([fromUserId]);
    if (!existing.has(fromUserId)) {
      throw notFound(ErrorReason.SENDER_NOT_FOUND, "the sender account does not exist", {
        field: "from_user_id",
      });
    }
  }

  /** Mute-all stops all but the owner and admins; a member's own mute stops them until it ends. */
  async function checkMutes(group: GroupRecord, userId: string, actor: Actor): Promise<void> {
    if (!config.traits[group.type].mutingSupported) return;
    if (group.muteAll && actor === "member") {
      throw permissionDenied(
        ErrorReason.GROUP_MUTED_ALL,
        "the group is muted for all but the owner and admins",
      );
    }
    const until = (await deps.members.selectMutes(group.groupId, [userId])).get(userId);
    if (until !== undefined && until > clock()) {
      throw permissionDenied(
        ErrorReason.MEMBER_MUTED,
        `muted in this group until ${new Date(until).toISOString()}`,
      );
    }
  }

  function noteLastSend(groupId: string, userId: string): void {
    deps.members.updateMemberLastSend(groupId, userId, clock()).catch((err: unknown) => {
      deps.logger.debug("could not record the member's last send time", { groupId, userId, err });
    });
  }

  return {
    name: "group",
    subject: deps.subject,
    dedupWindowMs: config.duplicateWindowMs,
    store: deps.messages,
    webhookEvents: { afterSend: "group-after-send", afterRecall: "group-after-recall" },

    async prepare(caller, req) {
      const options = req.options;
      checkAdminOptions(caller, req.fromUserId, options);
      if (req.fromUserId !== "") assertUserId(req.fromUserId, "from_user_id");
      const fromUserId = req.fromUserId === "" ? caller.userId : req.fromUserId;
      if (Buffer.byteLength(req.clientMessageId) > MAX_CLIENT_MESSAGE_ID_BYTES) {
        throw invalidField("client_message_id", `at most ${MAX_CLIENT_MESSAGE_ID_BYTES} bytes`);
      }
      if (req.atUserIds.length > AT_USERS_MAX) {
        throw invalidField("at_user_ids", `at most ${AT_USERS_MAX} users`);
      }
      for (const [i, id] of req.atUserIds.entries()) assertUserId(id, `at_user_ids[${i}]`);
      enumFromRequest(GroupMessagePrioritySchema, req.priority, "priority");
      validateMessage(req, deps.messageLimits);

      const { group, member, actor } = await loadGroupAccess(deps, caller, req.groupId, fromUserId);
      requireAllowed(group, "sendMessage", actor);
      if (actor === "appAdmin") await checkSenderAccount(caller, fromUserId);
      else await checkMutes(group, fromUserId, actor);
      await checkMentions(deps, group.groupId, actor, req);

      const traits = config.traits[group.type];
      const onlineOnly = options?.onlineOnly ?? false;
      const stored = traits.storesHistory && !onlineOnly;
      if (req.needReadReceipt && !(traits.readReceipts && stored)) {
        throw new DomainError(
          "failed-precondition",
          ErrorReason.READ_RECEIPT_NOT_ALLOWED,
          stored
            ? "this group type does not allow read receipts"
            : "an online-only message cannot ask for read receipts",
          { field: "need_read_receipt" },
        );
      }
      return {
        kind: "send",
        draft: {
          conversationId: group.groupId,
          stored,
          dedupKey: stored ? groupDedupKey(group.groupId, fromUserId, req) : undefined,
          options,
          content: { body: req.body, cloudCustomData: req.cloudCustomData },
          validateModified: bodyProblem(deps.messageLimits, req.offlinePushInfo),
          beforeSendEvent: (content) => ({
            case: "groupBeforeSend",
            value: {
              $typeName: "im.v1.GroupBeforeSendEvent",
              fromAccount: fromUserId,
              groupId: group.groupId,
              clientMsgId: req.clientMessageId,
              random: req.random,
              body: content.body,
              cloudCustomData: content.cloudCustomData,
              onlineOnly,
            },
          }),
          admit() {
            if (!deps.limiter.admit(group.groupId, req.priority)) {
              deps.logger.debug("group message dropped by frequency control", {
                groupId: group.groupId,
                priority: req.priority,
              });
              return false;
            }
            if (member !== undefined) noteLastSend(group.groupId, fromUserId);
            return true;
          },
          build: (content) =>
            create(GroupMessageSchema, {
              groupId: group.groupId,
              kind: GroupMessageKind.NORMAL,
              fromUserId,
              body: content.body,
              cloudCustomData: content.cloudCustomData,
              clientMessageId: req.clientMessageId,
              random: req.random,
              offlinePushInfo: req.offlinePushInfo,
              priority:
                req.priority === GroupMessagePriority.UNSPECIFIED
                  ? GroupMessagePriority.NORMAL
                  : req.priority,
              onlineOnly,
              noUnread: options?.noUnread ?? false,
              atUserIds: [...new Set(req.atUserIds)],
              atAll: req.atAll,
              needReadReceipt: req.needReadReceipt,
            }),
        },
      };
    },

    async allocateSeq(groupId, nowMs) {
      const seq = await deps.groups.allocateGroupSeqs(groupId, 1, nowMs);
      if (seq === undefined) {
        throw notFound(ErrorReason.GROUP_NOT_FOUND, "the group no longer exists", {
          field: "group_id",
        });
      }
      return seq;
    },
    conversationIdOf: (m) => m.groupId,
    toRecord: (message, { dedupKey, options }) => ({
      message,
      dedupKey,
      unpublished: true,
      skipAfterSendWebhook: options?.skipAfterSendWebhook ?? false,
      skipSyncToSender: options?.skipSyncToSender ?? false,
    }),

    reply: (m, duplicate) =>
      create(SendGroupMessageResponseSchema, {
        seq: m.seq,
        timeMs: m.timeMs,
        messageKey: m.messageKey,
        duplicate,
      }),
    notSentReply: (_groupId, nowMs) =>
      create(SendGroupMessageResponseSchema, { timeMs: BigInt(nowMs) }),

    deliverLive: (message, skipSyncToSender) =>
      deliverGroupMessage(deps.live, message, skipSyncToSender ? message.fromUserId : undefined),
    afterSendEvent: groupAfterSendEvent,
    pushJob: groupPushJob,

    conversationType: ConversationType.GROUP,
    recallAccess: (caller, groupId) => groupRecallAccess(deps, caller, groupId),
    participantView: (caller, groupId) => groupParticipantView(deps.current, caller, groupId),
    tombstoneOf: (message, recall) => tombstoneOf(GroupMessageSchema, message, recall),
    deliverRecalled: (tombstone) => deliverGroupRecalled(deps.live, tombstone),
    afterRecallEvent: groupAfterRecallEvent,

    editedOf: (message, content, edit) => editedOf(GroupMessageSchema, message, content, edit),
    beforeEditEvent: groupBeforeEditEvent,
    deliverEdited: (edited) => deliverGroupEdited(deps.live, edited),

    encodeEvent: encodeGroupFanoutEvent,
    decodeEvent: decodeGroupFanoutEvent,
  };
}
