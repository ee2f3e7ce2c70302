import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { storageUnavailable } from "../errors/domain-error.js";
import type { Logger } from "../log/logger.js";
import { type MessageMeter, noMeters, type SendOutcome } from "../metrics/meters.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import type { WebhookClient } from "../webhooks/index.js";
import type { SendClaims } from "./claims.js";
import { createGroupCommit } from "./group-commit.js";
import type { Content, ConversationKind } from "./kind.js";
import type { Outbox } from "./outbox.js";
import {
  assertCallerWaiting,
  assertClaimHeld,
  ClaimLapsedError,
  claimSend,
  releaseClaim,
  runBeforeSend,
} from "./send-steps.js";
import {
  type AppendResult,
  messageKeyOf,
  type SequencedMessage,
  type StoredMessage,
} from "./store.js";

/** One send at the "seq + insert" step. */
interface AppendItem<R> {
  record: R;
  /** The caller's: aborted when it stopped waiting. */
  signal: AbortSignal | undefined;
  /** When the send's idempotency claim was taken; undefined: no claim. */
  claimedAtMs: number | undefined;
}
type AppendOutcome = AppendResult;

/** How many times one send takes a new seq after finding its seq taken. */
const MAX_SEQ_ATTEMPTS = 8;
const SEQ_RETRY_JITTER_MS = 10;

export interface PipelineDeps<R> {
  claims: Pick<SendClaims, "claimDedupKey" | "releaseDedupKey">;
  /** How long a claimed send may stay unstored before a retry may take its claim over. */
  claimLeaseMs: number;
  /** Most sends written to the store in one batch. */
  writeBatchMax: number;
  outbox: Pick<Outbox<R>, "publish">;
  webhooks: Pick<WebhookClient, "beforeSend" | "afterSend">;
  /** Re-validates a body the before-send webhook modified. */
  clock: Clock;
  logger: Logger;
  /** Sends by outcome; off by default. */
  meter?: Pick<MessageMeter, "messageSent">;
  /** A span around the store write; off by default. */
  tracing?: Tracing;
  /**
   * Keyword moderation (src/moderation), before the before-send webhook:
   * masked content, or a throw to refuse the send. Off when unset.
   */
  moderate?: (caller: Caller, content: Content) => Content;
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

  /**
   * Seq + insert with the outbox mark, group-committed: the sends that reach
   * this step while a batch is being written go into the next batch
   * (docs/architecture.md, "Batched writes"). A send whose caller stopped
   * waiting, or whose claim lapsed, is left out before the write; an item
   * whose seq was taken (FerretDB across processes) takes a new seq in a
   * later batch, alone.
   */
  const appends = createGroupCommit<AppendItem<R>, AppendOutcome>({
    maxBatch: deps.writeBatchMax,
    drop(item) {
      try {
        assertCallerWaiting(item.signal);
        if (item.claimedAtMs !== undefined) {
          assertClaimHeld(item.claimedAtMs, deps.claimLeaseMs, clock);
        }
        return undefined;
      } catch (err) {
        return err;
      }
    },
    async write(items) {
      const now = clock();
      const allocated = await allocateSeqs(items, now);
      const toWrite: R[] = [];
      for (const [i, { record }] of items.entries()) {
        const seq = allocated[i];
        if (typeof seq !== "number") continue;
        const { message } = record;
        message.timeMs = BigInt(now);
        message.seq = BigInt(seq);
        message.messageKey = messageKeyOf(kind.conversationIdOf(message), seq);
        toWrite.push(record);
      }
      const written = toWrite.length === 0 ? [] : await kind.store.appendMessages(toWrite);
      let next = 0;
      return allocated.map((a) => (typeof a === "number" ? (written[next++] as AppendOutcome) : a));
    },
  });

  /** A seq per item (in submission order within a conversation), or the item's failure. */
  const allocateSeqs = async (
    items: readonly AppendItem<R>[],
    nowMs: number,
  ): Promise<(number | AppendOutcome)[]> => {
    const ids = items.map(({ record }) => kind.conversationIdOf(record.message));
    if (kind.allocateSeqRanges === undefined) {
      return Promise.all(
        ids.map((id) =>
          kind.allocateSeq(id, nowMs).catch(
            (error: unknown): AppendOutcome => ({
              kind: "failed",
              error,
            }),
          ),
        ),
      );
    }
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const requests = [...counts].map(([conversationId, count]) => ({ conversationId, count }));
    try {
      const firsts = await kind.allocateSeqRanges(requests, nowMs);
      const nextSeq = new Map(requests.map((r, i) => [r.conversationId, firsts[i] as number]));
      return ids.map((id) => {
        const seq = nextSeq.get(id) as number;
        nextSeq.set(id, seq + 1);
        return seq;
      });
    } catch (error) {
      return ids.map(() => ({ kind: "failed", error }));
    }
  };

  const insertWithSignal = async (
    record: R,
    signal: AbortSignal | undefined,
    claimedAtMs: number | undefined,
  ): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const outcome = await appends.submit({ record, signal, claimedAtMs });
      if (outcome.kind === "stored") return;
      if (outcome.kind === "failed") throw outcome.error;
      if (attempt >= MAX_SEQ_ATTEMPTS) {
        // Nothing stored: the sender may retry (its dedup key makes that safe).
        throw storageUnavailable(
          new Error(`seq taken ${attempt} times in a row: ${record.message.messageKey}`),
        );
      }
      logger.warn("seq handed out twice; taking another", { key: record.message.messageKey });
      // Nodes racing for one counter (FerretDB's updates are not atomic across
      // processes) would collide again if all retried at once: a random pause.
      await new Promise((r) => setTimeout(r, Math.random() * SEQ_RETRY_JITTER_MS * attempt));
    }
  };
  const insert = (record: R) => insertWithSignal(record, undefined, undefined);

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
      let content: Content = deps.moderate?.(caller, draft.content) ?? draft.content;
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
      await tracing.span(
        "store message",
        () => insertWithSignal(record, signal, dedupKey === undefined ? undefined : claimedAtMs),
        { attributes: { "im.conversation_kind": kind.name } },
      );
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
