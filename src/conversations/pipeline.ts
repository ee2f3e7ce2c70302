import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import { type MessageMeter, noMeters, type SendOutcome } from "../metrics/meters.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import type { WebhookClient } from "../webhooks/index.js";
import type { SendClaims } from "./claims.js";
import type { Content, ConversationKind } from "./kind.js";
import type { Outbox } from "./outbox.js";
import {
  assertCallerWaiting,
  assertClaimHeld,
  ClaimLapsedError,
  claimSend,
  insertWithNewSeq,
  releaseClaim,
  runBeforeSend,
} from "./send-steps.js";
import { messageKeyOf, SeqTakenError, type SequencedMessage, type StoredMessage } from "./store.js";

export interface PipelineDeps<R> {
  claims: Pick<SendClaims, "claimDedupKey" | "releaseDedupKey">;
  /** How long a claimed send may stay unstored before a retry may take its claim over. */
  claimLeaseMs: number;
  outbox: Pick<Outbox<R>, "publish">;
  webhooks: Pick<WebhookClient, "beforeSend" | "afterSend">;
  /** Re-validates a body the before-send webhook modified. */
  clock: Clock;
  logger: Logger;
  /** Sends by outcome; off by default. */
  meter?: Pick<MessageMeter, "messageSent">;
  /** A span around the store write; off by default. */
  tracing?: Tracing;
}

export interface ConversationPipeline<Req, R, Res> {
  /**
   * One send (docs/architecture.md, "Data flow"): the kind prepares it
   * (validation, authorisation, policy), then idempotency claim, before-send
   * webhook, the kind's admission, seq + insert with the outbox mark, ack.
   * Publishing never blocks the ack: the outbox fans out every stored message.
   * `signal` is the call's: aborted when its deadline passes or the client goes away.
   */
  send(caller: Caller, req: Req, signal?: AbortSignal): Promise<Res>;
  /** Sequencing + storage alone (stored group tips): the next seq, time now, inserted. */
  insert(record: R): Promise<void>;
}

export function createConversationPipeline<
  Req,
  M extends SequencedMessage,
  R extends StoredMessage<M>,
  Res,
>(
  kind: ConversationKind<Req, M, R, Res>,
  deps: PipelineDeps<R>,
): ConversationPipeline<Req, R, Res> {
  const { claims, clock, logger, webhooks } = deps;
  const meter = deps.meter ?? noMeters;
  const tracing = deps.tracing ?? noTracing;

  /** Takes a seq and inserts; on a backend that handed out a taken seq, takes another. */
  const insert = async (record: R): Promise<void> => {
    const { message } = record;
    const conversationId = kind.conversationIdOf(message);
    await insertWithNewSeq(
      async () => {
        const now = clock();
        const seq = await kind.allocateSeq(conversationId, now);
        message.timeMs = BigInt(now);
        return seq;
      },
      (seq) => {
        message.seq = BigInt(seq);
        message.messageKey = messageKeyOf(conversationId, seq);
        return kind.store.insertMessage(record);
      },
      (err) => err instanceof SeqTakenError,
      logger,
    );
  };

  const send = async (caller: Caller, req: Req, signal?: AbortSignal): Promise<Res> => {
    let outcome: SendOutcome = "failed";
    try {
      const [res, how] = await sendOnce(caller, req, signal);
      outcome = how;
      return res;
    } finally {
      meter.messageSent(kind.name, outcome);
    }
  };

  const sendOnce = async (
    caller: Caller,
    req: Req,
    signal?: AbortSignal,
  ): Promise<[Res, SendOutcome]> => {
    const prepared = await kind.prepare(caller, req);
    if (prepared.kind === "reply") return [prepared.reply, "dropped"];
    const { draft } = prepared;
    const { dedupKey, options } = draft;
    assertCallerWaiting(signal);
    let claimedAtMs = 0;
    if (dedupKey !== undefined) {
      const claim = await claimSend(claims, dedupKey, {
        windowMs: kind.dedupWindowMs,
        leaseMs: deps.claimLeaseMs,
        clock,
        lookup: (sinceMs) => kind.store.selectMessageByDedupKey(dedupKey, sinceMs),
      });
      if (claim.kind === "original") return [kind.reply(claim.original.message, true), "duplicate"];
      claimedAtMs = claim.claimedAtMs;
    }
    /** Success without a seq: released so a retry is evaluated afresh. */
    const notSent = async (): Promise<[Res, SendOutcome]> => {
      await releaseClaim(claims, logger, dedupKey);
      return [kind.notSentReply(draft.conversationId, clock()), "dropped"];
    };

    try {
      let content: Content = draft.content;
      if (!options?.skipBeforeSendWebhook) {
        const outcome = await runBeforeSend(
          webhooks,
          draft.beforeSendEvent(content),
          content,
          draft.validateModified,
        );
        if (outcome.kind === "dropped") return await notSent();
        content = { body: outcome.body, cloudCustomData: outcome.cloudCustomData };
      }
      if (draft.admit !== undefined && !draft.admit()) return await notSent();

      const message = draft.build(content);
      if (!draft.stored) {
        message.timeMs = BigInt(clock());
        kind.deliverLive(message, options?.skipSyncToSender ?? false);
        if (!options?.skipAfterSendWebhook) webhooks.afterSend(kind.afterSendEvent(message));
        return [kind.reply(message, false), "live_only"];
      }

      const record = kind.toRecord(message, draft);
      assertCallerWaiting(signal);
      if (dedupKey !== undefined) assertClaimHeld(claimedAtMs, deps.claimLeaseMs, clock);
      await tracing.span("store message", () => insert(record), {
        attributes: { "im.conversation_kind": kind.name },
      });
      deps.outbox.publish(record);
      return [kind.reply(message, false), "stored"];
    } catch (err) {
      // Nothing was stored: let a retry be evaluated afresh.
      if (!(err instanceof ClaimLapsedError)) await releaseClaim(claims, logger, dedupKey);
      throw err;
    }
  };

  return { send, insert };
}
