import { create } from "@bufbuild/protobuf";
import type { AccountStore } from "../accounts/store.js";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { assertUserId } from "../common/user-id.js";
import { ErrorReason, invalidArgument, invalidField, notFound } from "../errors/domain-error.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import {
  type Message,
  MessageSchema,
  type SendMessageRequest,
  type SendMessageResponse,
  SendMessageResponseSchema,
} from "../gen/im/v1/message_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { WebhookClient } from "../webhooks/index.js";
import { c2cConversationId, messageKeyOf } from "./conversation-id.js";
import type { Outbox } from "./outbox.js";
import type { C2CSendPolicy } from "./send-policy.js";
import {
  assertCallerWaiting,
  assertClaimHeld,
  ClaimLapsedError,
  checkAdminOptions,
  claimSend,
  insertWithNewSeq,
  releaseClaim,
  runBeforeSend,
} from "./send-steps.js";
import { type MessageRecord, type MessageStore, SeqTakenError } from "./store.js";
import { bodyProblem, type MessageLimits, validateMessage } from "./validate-body.js";

export interface SendDeps {
  store: MessageStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  live: LiveHub;
  outbox: Outbox<MessageRecord>;
  webhooks: WebhookClient;
  policy: C2CSendPolicy;
  clock: Clock;
  logger: Logger;
  messageLimits: MessageLimits;
  dedupWindowMs: number;
  /** How long a claimed send may stay unstored before a retry may take its claim over. */
  claimLeaseMs: number;
}

export const MAX_CLIENT_MESSAGE_ID_BYTES = 64;

/**
 * The one-to-one send path (DESIGN.md "Data flow"): validate, permission,
 * idempotency claim, before-send webhook, seq + insert with the outbox mark,
 * then ack. Publishing to the bus happens after the ack is decided and never
 * blocks it: the outbox guarantees fan-out of every stored message.
 */
export function createSendMessage(deps: SendDeps) {
  const { store, clock, webhooks } = deps;

  return async function sendMessage(
    caller: Caller,
    req: SendMessageRequest,
    /** The call's: aborted when its deadline passes or the client goes away. */
    signal?: AbortSignal,
  ): Promise<SendMessageResponse> {
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
      return notStored(conversationId, clock());
    }

    const onlineOnly = options?.onlineOnly ?? false;
    const dedupKey = onlineOnly ? undefined : dedupKeyOf(fromUserId, req);
    assertCallerWaiting(signal);
    let claimedAtMs = 0;
    if (dedupKey !== undefined) {
      const claim = await claimSend(store, dedupKey, {
        windowMs: deps.dedupWindowMs,
        leaseMs: deps.claimLeaseMs,
        clock,
        lookup: (sinceMs) => store.selectMessageByDedupKey(dedupKey, sinceMs),
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
            case: "c2cBeforeSend",
            value: {
              $typeName: "im.v1.C2cBeforeSendEvent",
              fromAccount: fromUserId,
              toAccount: req.toUserId,
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
        if (outcome.kind === "dropped") {
          await releaseClaim(store, deps.logger, dedupKey);
          return notStored(conversationId, clock());
        }
        body = outcome.body;
        cloudCustomData = outcome.cloudCustomData;
      }

      const message = create(MessageSchema, {
        conversationId,
        fromUserId,
        toUserId: req.toUserId,
        body,
        cloudCustomData,
        clientMessageId: req.clientMessageId,
        random: req.random,
        offlinePushInfo: req.offlinePushInfo,
        noUnread: options?.noUnread ?? false,
        onlineOnly,
      });
      if (onlineOnly) {
        message.timeMs = BigInt(clock());
        deliverLive(deps, message, options?.skipSyncToSender ?? false);
        if (!options?.skipAfterSendWebhook) webhooks.afterSend(afterSendEvent(message));
        return create(SendMessageResponseSchema, { conversationId, timeMs: message.timeMs });
      }

      const record: MessageRecord = {
        message,
        dedupKey,
        unpublished: true,
        skipAfterSendWebhook: options?.skipAfterSendWebhook ?? false,
        skipSyncToSender: options?.skipSyncToSender ?? false,
        noLastMessage: options?.noLastMessage ?? false,
      };
      assertCallerWaiting(signal);
      if (dedupKey !== undefined) assertClaimHeld(claimedAtMs, deps.claimLeaseMs, clock);
      await insertWithNewSeqOf(record);
      deps.outbox.publish(record);
      return create(SendMessageResponseSchema, {
        conversationId,
        seq: message.seq,
        timeMs: message.timeMs,
        messageKey: message.messageKey,
      });
    } catch (err) {
      // Nothing was stored: let a retry be evaluated afresh.
      if (!(err instanceof ClaimLapsedError)) await releaseClaim(store, deps.logger, dedupKey);
      throw err;
    }
  };

  /** Takes a seq and inserts; on a backend that handed out a taken seq, takes another. */
  async function insertWithNewSeqOf(record: MessageRecord): Promise<void> {
    const { message } = record;
    await insertWithNewSeq(
      () => store.allocateSeq(message.conversationId),
      (seq) => {
        message.seq = BigInt(seq);
        message.messageKey = messageKeyOf(message.conversationId, seq);
        message.timeMs = BigInt(clock());
        return store.insertMessage(record);
      },
      (err) => err instanceof SeqTakenError,
      deps.logger,
    );
  }
}

/** The answer to a retry of a stored send: the original's reply, marked duplicate. */
const duplicateReply = (m: Message): SendMessageResponse =>
  create(SendMessageResponseSchema, {
    conversationId: m.conversationId,
    seq: m.seq,
    timeMs: m.timeMs,
    messageKey: m.messageKey,
    duplicate: true,
  });

/** Sender and recipient must exist; an admin sending as itself (a system message) needs no account. */
async function checkAccountsExist(
  deps: SendDeps,
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

/** Live delivery to the recipient's devices and, unless skipped, the sender's other devices. */
export function deliverLive(
  deps: { live: LiveHub },
  message: Message,
  skipSyncToSender: boolean,
): void {
  const event = create(SubscribeResponseSchema, { event: { case: "message", value: message } });
  deps.live.publishToUser(message.toUserId, event);
  if (!skipSyncToSender) deps.live.publishToUser(message.fromUserId, event);
}

export function afterSendEvent(m: Message) {
  return {
    case: "c2cAfterSend" as const,
    value: {
      $typeName: "im.v1.C2cAfterSendEvent" as const,
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
