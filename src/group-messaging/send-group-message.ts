import { create } from "@bufbuild/protobuf";
import type { AccountStore } from "../accounts/store.js";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { enumFromRequest } from "../common/proto-enum.js";
import { assertUserId } from "../common/user-id.js";
import { ErrorReason, invalidField, notFound, permissionDenied } from "../errors/domain-error.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessagePriority,
  GroupMessagePrioritySchema,
  GroupMessageSchema,
  type SendGroupMessageRequest,
  type SendGroupMessageResponse,
  SendGroupMessageResponseSchema,
} from "../gen/im/v1/group_pb.js";
import { requireAllowed } from "../groups/actor.js";
import type { GroupConfig } from "../groups/config.js";
import type { Actor } from "../groups/group-types.js";
import type { GroupMemberStore, GroupRecord, GroupStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { Outbox } from "../messaging/outbox.js";
import { MAX_CLIENT_MESSAGE_ID_BYTES } from "../messaging/send-message.js";
import {
  assertCallerWaiting,
  assertClaimHeld,
  ClaimLapsedError,
  checkAdminOptions,
  claimSend,
  releaseClaim,
  runBeforeSend,
} from "../messaging/send-steps.js";
import type { MessageStore } from "../messaging/store.js";
import { bodyProblem, type MessageLimits, validateMessage } from "../messaging/validate-body.js";
import type { WebhookClient } from "../webhooks/index.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";
import { groupAfterSendEvent } from "./after-send-event.js";
import { groupDedupKey } from "./dedup-key.js";
import { deliverGroupMessage } from "./delivery.js";
import { insertGroupMessage } from "./insert-group-message.js";
import type { GroupRateLimiter } from "./rate-limiter.js";
import type { GroupMessageRecord, GroupMessageStore } from "./store.js";

export interface GroupSendDeps extends GroupAccessDeps {
  groups: Pick<GroupStore, "selectGroup" | "allocateGroupSeqs">;
  members: Pick<GroupMemberStore, "selectMember" | "selectMutes" | "updateMemberLastSend">;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  messages: GroupMessageStore;
  /** The idempotency claims one-to-one messaging keeps (one store for both). */
  claims: Pick<MessageStore, "claimDedupKey" | "releaseDedupKey">;
  /** How long a claimed send may stay unstored before a retry may take its claim over. */
  claimLeaseMs: number;
  outbox: Outbox<GroupMessageRecord>;
  live: Pick<LiveHub, "publishToGroup">;
  webhooks: Pick<WebhookClient, "beforeSend" | "afterSend">;
  limiter: GroupRateLimiter;
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  messageLimits: MessageLimits;
}

/** Most members one message may @-mention. */
const AT_USERS_MAX = 100;

/**
 * The group send path, the one-to-one pipeline's steps in the same order
 * (DESIGN.md "Data flow"): validate, permission (membership, mute, mute-all),
 * idempotency claim, before-send webhook, frequency control, seq + insert with
 * the outbox mark, ack; fan-out to the members happens on the bus's work
 * consumer. Frequency control runs after the before-send webhook because the
 * reference fires that webhook for messages it then drops.
 *
 * AVChatRoom keeps no history: its messages take no seq and go at once to the
 * online members. So do online-only messages of every type.
 */
export function createSendGroupMessage(deps: GroupSendDeps) {
  const { clock, webhooks, config } = deps;

  return async function sendGroupMessage(
    caller: Caller,
    req: SendGroupMessageRequest,
    /** The call's: aborted when its deadline passes or the client goes away. */
    signal?: AbortSignal,
  ): Promise<SendGroupMessageResponse> {
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

    const traits = config.traits[group.type];
    const onlineOnly = options?.onlineOnly ?? false;
    const stored = traits.storesHistory && !onlineOnly;
    const dedupKey = stored ? groupDedupKey(group.groupId, fromUserId, req) : undefined;
    assertCallerWaiting(signal);
    let claimedAtMs = 0;
    if (dedupKey !== undefined) {
      const claim = await claimSend(deps.claims, dedupKey, {
        windowMs: config.duplicateWindowMs,
        leaseMs: deps.claimLeaseMs,
        clock,
        lookup: (sinceMs) => deps.messages.selectGroupMessageByDedupKey(dedupKey, sinceMs),
      });
      if (claim.kind === "original") return duplicateReply(claim.original.message);
      claimedAtMs = claim.claimedAtMs;
    }

    try {
      let body = req.body;
      let cloudCustomData = req.cloudCustomData;
      if (!options?.skipBeforeSendWebhook) {
        const outcome = await runBeforeSend(
          webhooks,
          {
            case: "groupBeforeSend",
            value: {
              $typeName: "im.v1.GroupBeforeSendEvent",
              fromAccount: fromUserId,
              groupId: group.groupId,
              clientMsgId: req.clientMessageId,
              random: req.random,
              body,
              cloudCustomData,
              onlineOnly,
            },
          },
          { body, cloudCustomData },
          bodyProblem(deps.messageLimits, req.offlinePushInfo),
        );
        if (outcome.kind === "dropped") return notSent(dedupKey);
        body = outcome.body;
        cloudCustomData = outcome.cloudCustomData;
      }
      if (!deps.limiter.admit(group.groupId, req.priority)) {
        deps.logger.debug("group message dropped by frequency control", {
          groupId: group.groupId,
          priority: req.priority,
        });
        return notSent(dedupKey);
      }

      const message = create(GroupMessageSchema, {
        groupId: group.groupId,
        kind: GroupMessageKind.NORMAL,
        fromUserId,
        body,
        cloudCustomData,
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
      });
      if (member !== undefined) noteLastSend(group.groupId, fromUserId);
      if (!stored) {
        message.timeMs = BigInt(clock());
        deliverGroupMessage(deps.live, message, options?.skipSyncToSender ? fromUserId : undefined);
        if (!options?.skipAfterSendWebhook) webhooks.afterSend(groupAfterSendEvent(message));
        return create(SendGroupMessageResponseSchema, { timeMs: message.timeMs });
      }

      const record: GroupMessageRecord = {
        message,
        dedupKey,
        unpublished: true,
        skipAfterSendWebhook: options?.skipAfterSendWebhook ?? false,
        skipSyncToSender: options?.skipSyncToSender ?? false,
      };
      assertCallerWaiting(signal);
      if (dedupKey !== undefined) assertClaimHeld(claimedAtMs, deps.claimLeaseMs, clock);
      await insertGroupMessage(deps, record);
      deps.outbox.publish(record);
      return create(SendGroupMessageResponseSchema, {
        seq: message.seq,
        timeMs: message.timeMs,
        messageKey: message.messageKey,
      });
    } catch (err) {
      // Nothing was stored: let a retry be evaluated afresh.
      if (!(err instanceof ClaimLapsedError)) {
        await releaseClaim(deps.claims, deps.logger, dedupKey);
      }
      throw err;
    }
  };

  /** Success without a seq: the webhook or frequency control dropped the message. */
  async function notSent(dedupKey: string | undefined): Promise<SendGroupMessageResponse> {
    await releaseClaim(deps.claims, deps.logger, dedupKey);
    return create(SendGroupMessageResponseSchema, { timeMs: BigInt(clock()) });
  }

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
}

/** The answer to a retry of a stored send: the original's reply, marked duplicate. */
const duplicateReply = (m: GroupMessage): SendGroupMessageResponse =>
  create(SendGroupMessageResponseSchema, {
    seq: m.seq,
    timeMs: m.timeMs,
    messageKey: m.messageKey,
    duplicate: true,
  });
