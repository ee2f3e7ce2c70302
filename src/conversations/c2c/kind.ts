import { create } from "@bufbuild/protobuf";
import type { AccountStore } from "../../accounts/store.js";
import type { Caller } from "../../auth/caller.js";
import type { Clock } from "../../common/clock.js";
import { assertUserId } from "../../common/user-id.js";
import { ErrorReason, invalidArgument, invalidField, notFound } from "../../errors/domain-error.js";
import { SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import { ConversationType } from "../../gen/im/v1/lifecycle_pb.js";
import {
  type Message,
  MessageSchema,
  type SendMessageRequest,
  type SendMessageResponse,
  SendMessageResponseSchema,
} from "../../gen/im/v1/message_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { AfterSendEvent } from "../../webhooks/index.js";
import { editedOf } from "../edit.js";
import type { ConversationKind } from "../kind.js";
import { storedMessagePushJob } from "../push-job.js";
import { tombstoneOf } from "../recall.js";
import { checkAdminOptions, MAX_CLIENT_MESSAGE_ID_BYTES } from "../send-steps.js";
import { bodyProblem, type MessageLimits, validateMessage } from "../validate-body.js";
import { c2cConversationId } from "./conversation-id.js";
import { c2cBeforeEditEvent, deliverC2cEdited } from "./edit.js";
import { decodeFanoutEvent, encodeFanoutEvent } from "./fanout-event.js";
import {
  c2cAfterRecallEvent,
  c2cParticipantView,
  c2cRecallAccess,
  deliverC2cRecalled,
} from "./recall.js";
import type { C2CSendPolicy } from "./send-policy.js";
import type { MessageRecord, MessageStore } from "./store.js";

export interface C2cKindDeps {
  store: MessageStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  live: Pick<LiveHub, "publishToUsers">;
  policy: C2CSendPolicy;
  /** The bus subject of one-to-one fan-out events. */
  subject: string;
  clock: Clock;
  messageLimits: MessageLimits;
  dedupWindowMs: number;
}

export type C2cKind = ConversationKind<
  SendMessageRequest,
  Message,
  MessageRecord,
  SendMessageResponse
>;

/**
 * One-to-one conversations: two users, one conversation id from both sides
 * ("c2c:<a>:<b>"), seqs from the conversation's own counter. Sender and
 * recipient must exist (an admin sending as itself is the system and needs no
 * account); the relationship chain may refuse or silently drop; both users'
 * devices get the message live.
 */
export function createC2cKind(deps: C2cKindDeps): C2cKind {
  const { store, clock } = deps;
  return {
    name: "c2c",
    subject: deps.subject,
    dedupWindowMs: deps.dedupWindowMs,
    store,
    webhookEvents: { afterSend: "c2c-after-send", afterRecall: "c2c-after-recall" },

    async prepare(caller, req) {
      const options = req.options;
      const fromUserId = req.fromUserId === "" ? caller.userId : req.fromUserId;
      checkAdminOptions(caller, req.fromUserId, options);
      assertUserId(req.toUserId, "to_user_id");
      if (req.fromUserId !== "") assertUserId(req.fromUserId, "from_user_id");
      if (fromUserId === req.toUserId) {
        throw invalidArgument(ErrorReason.SELF_MESSAGE, "sender and recipient are the same user", {
          field: "to_user_id",
        });
      }
      if (Buffer.byteLength(req.clientMessageId) > MAX_CLIENT_MESSAGE_ID_BYTES) {
        throw invalidField("client_message_id", `at most ${MAX_CLIENT_MESSAGE_ID_BYTES} bytes`);
      }
      validateMessage(req, deps.messageLimits);
      await checkAccountsExist(deps, caller, fromUserId, req.toUserId);

      const conversationId = c2cConversationId(fromUserId, req.toUserId);
      if (!caller.isAdmin && (await deps.policy(fromUserId, req.toUserId)) === "drop-silently") {
        return { kind: "reply", reply: notStored(conversationId, clock()) };
      }
      const onlineOnly = options?.onlineOnly ?? false;
      return {
        kind: "send",
        draft: {
          conversationId,
          stored: !onlineOnly,
          dedupKey: onlineOnly ? undefined : dedupKeyOf(fromUserId, req),
          options,
          content: { body: req.body, cloudCustomData: req.cloudCustomData },
          validateModified: bodyProblem(deps.messageLimits, req.offlinePushInfo),
          beforeSendEvent: (content) => ({
            case: "c2cBeforeSend",
            value: {
              $typeName: "im.v1.C2cBeforeSendEvent",
              fromAccount: fromUserId,
              toAccount: req.toUserId,
              clientMsgId: req.clientMessageId,
              random: req.random,
              body: content.body,
              cloudCustomData: content.cloudCustomData,
              onlineOnly,
            },
          }),
          build: (content) =>
            create(MessageSchema, {
              conversationId,
              fromUserId,
              toUserId: req.toUserId,
              body: content.body,
              cloudCustomData: content.cloudCustomData,
              clientMessageId: req.clientMessageId,
              random: req.random,
              offlinePushInfo: req.offlinePushInfo,
              noUnread: options?.noUnread ?? false,
              onlineOnly,
            }),
        },
      };
    },

    allocateSeq: (conversationId, nowMs) => store.allocateSeq(conversationId, nowMs),
    allocateSeqRanges: (requests, nowMs) => store.allocateSeqRanges(requests, nowMs),
    conversationIdOf: (m) => m.conversationId,
    toRecord: (message, { dedupKey, options }) => ({
      message,
      dedupKey,
      unpublished: true,
      skipAfterSendWebhook: options?.skipAfterSendWebhook ?? false,
      skipSyncToSender: options?.skipSyncToSender ?? false,
      noLastMessage: options?.noLastMessage ?? false,
    }),

    reply: (m, duplicate) =>
      create(SendMessageResponseSchema, {
        conversationId: m.conversationId,
        seq: m.seq,
        timeMs: m.timeMs,
        messageKey: m.messageKey,
        duplicate,
      }),
    notSentReply: notStored,

    deliverLive(message, skipSyncToSender) {
      const event = create(SubscribeResponseSchema, { event: { case: "message", value: message } });
      // One encoding for both users.
      deps.live.publishToUsers(
        skipSyncToSender ? [message.toUserId] : [message.toUserId, message.fromUserId],
        event,
      );
    },
    pushJob: (message) =>
      storedMessagePushJob(message, { case: "users", value: { userIds: [message.toUserId] } }),
    afterSendEvent,

    conversationType: ConversationType.C2C,
    recallAccess: c2cRecallAccess,
    participantView: (caller, conversationId) => c2cParticipantView(store, caller, conversationId),
    tombstoneOf: (message, recall) => tombstoneOf(MessageSchema, message, recall),
    deliverRecalled: (tombstone) => deliverC2cRecalled(deps.live, tombstone),
    afterRecallEvent: c2cAfterRecallEvent,

    editedOf: (message, content, edit) => editedOf(MessageSchema, message, content, edit),
    beforeEditEvent: c2cBeforeEditEvent,
    deliverEdited: (edited) => deliverC2cEdited(deps.live, edited),

    encodeEvent: encodeFanoutEvent,
    decodeEvent: decodeFanoutEvent,
  };
}

/** Sender and recipient must exist; an admin sending as itself (a system message) needs no account. */
async function checkAccountsExist(
  deps: Pick<C2cKindDeps, "accounts">,
  caller: Caller,
  from: string,
  to: string,
): Promise<void> {
  const systemSender = caller.isAdmin && from === caller.userId;
  const existing = await deps.accounts.selectExistingUserIds(systemSender ? [to] : [from, to]);
  if (!systemSender && !existing.has(from)) {
    throw notFound(ErrorReason.SENDER_NOT_FOUND, "the sender account does not exist", {
      field: "from_user_id",
    });
  }
  if (!existing.has(to)) {
    throw notFound(ErrorReason.RECIPIENT_NOT_FOUND, "the recipient account does not exist", {
      field: "to_user_id",
    });
  }
}

/** Retries carry the same client message id, or failing that the same random. */
function dedupKeyOf(from: string, req: SendMessageRequest): string | undefined {
  if (req.clientMessageId !== "") return `${from}>${req.toUserId}#c:${req.clientMessageId}`;
  if (req.random !== 0) return `${from}>${req.toUserId}#r:${req.random}`;
  return undefined;
}

const notStored = (conversationId: string, nowMs: number): SendMessageResponse =>
  create(SendMessageResponseSchema, { conversationId, timeMs: BigInt(nowMs) });

function afterSendEvent(m: Message): AfterSendEvent {
  return {
    case: "c2cAfterSend",
    value: {
      $typeName: "im.v1.C2cAfterSendEvent",
      fromAccount: m.fromUserId,
      toAccount: m.toUserId,
      clientMsgId: m.clientMessageId,
      random: m.random,
      body: m.body,
      cloudCustomData: m.cloudCustomData,
      onlineOnly: m.onlineOnly,
      seq: m.seq,
      msgKey: m.messageKey,
      msgTimeMs: m.timeMs,
    },
  };
}
