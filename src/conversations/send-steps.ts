import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason, permissionDenied } from "../errors/domain-error.js";
import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import type { SendOptions } from "../gen/im/v1/message_pb.js";
import type { Logger } from "../log/logger.js";
import type { BeforeSendEvent, BodyValidator, WebhookClient } from "../webhooks/index.js";
import type { MessageStore } from "./c2c/store.js";

/**
 * Steps of the send path shared by one-to-one and group messages, so both
 * kinds of send behave the same where the product says they do.
 */

/** Longest client message id, in bytes (both kinds). */
export const MAX_CLIENT_MESSAGE_ID_BYTES = 64;

/** How long a retry waits for the original send of the same message to finish. */
const IN_PROGRESS_WAIT_MS = 3000;
const IN_PROGRESS_POLL_MS = 50;

/** Options only app administrators may set; throws ADMIN_OPTION naming the first one used. */
export function checkAdminOptions(
  caller: Caller,
  fromUserId: string,
  options: SendOptions | undefined,
): void {
  if (caller.isAdmin) return;
  const adminOnly: [boolean, string][] = [
    [fromUserId !== "", "from_user_id"],
    [options?.skipBeforeSendWebhook ?? false, "options.skip_before_send_webhook"],
    [options?.skipAfterSendWebhook ?? false, "options.skip_after_send_webhook"],
    [options?.skipSyncToSender ?? false, "options.skip_sync_to_sender"],
  ];
  const used = adminOnly.find(([set]) => set);
  if (used !== undefined) {
    throw permissionDenied(ErrorReason.ADMIN_OPTION, `${used[1]} is for app administrators`, {
      field: used[1],
    });
  }
}

/** What goes out after the before-send webhook. */
export type BeforeSendResult =
  | { kind: "send"; body: MessageElement[]; cloudCustomData: string }
  | { kind: "dropped" };

/**
 * Runs the before-send webhook (docs/architecture.md, "Webhook semantics"): a deny becomes
 * BLOCKED_BY_WEBHOOK with the app's code and text passed through; a drop tells
 * the caller to answer success without storing; a modification replaces the content.
 */
export async function runBeforeSend(
  webhooks: Pick<WebhookClient, "beforeSend">,
  event: BeforeSendEvent,
  content: { body: MessageElement[]; cloudCustomData: string },
  validate: BodyValidator,
): Promise<BeforeSendResult> {
  const verdict = await webhooks.beforeSend(event, validate);
  if (verdict.kind === "denied") {
    throw permissionDenied(ErrorReason.BLOCKED_BY_WEBHOOK, "the app's webhook denied the message", {
      appCode: verdict.appCode,
      appText: verdict.appText,
    });
  }
  if (verdict.kind === "dropped") return { kind: "dropped" };
  if (verdict.kind === "modified") {
    return { kind: "send", body: verdict.body, cloudCustomData: verdict.cloudCustomData };
  }
  return { kind: "send", ...content };
}

/** Releases an idempotency claim (nothing was stored) so a retry is evaluated afresh. */
export async function releaseClaim(
  store: Pick<MessageStore, "releaseDedupKey">,
  logger: Logger,
  dedupKey: string | undefined,
): Promise<void> {
  if (dedupKey === undefined) return;
  await store.releaseDedupKey(dedupKey).catch((err: unknown) => {
    logger.warn("could not release dedup claim", { dedupKey, err });
  });
}

/**
 * A send still unstored when its idempotency claim's lease ran out. A sender
 * that dies between claiming and storing (kill -9) leaves its claim behind;
 * past the lease a retry takes the claim over instead of waiting out the whole
 * duplicate window, so a live send that slow gives up rather than store a
 * second copy beside the retry's. Its claim is not released: it may be the retry's.
 */
export class ClaimLapsedError extends DomainError {
  constructor() {
    super("unavailable", ErrorReason.SEND_IN_PROGRESS, "the send took too long; retry it");
  }
}

/**
 * Stops a send whose caller's deadline has passed (or who went away) before
 * it stores anything. Under overload this keeps the store's time for sends
 * someone still waits for, instead of finishing ones whose clients already
 * gave up and will retry.
 */
export function assertCallerWaiting(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new DomainError(
      "deadline-exceeded",
      ErrorReason.DEADLINE_EXCEEDED,
      "the call's deadline passed before the message was stored; nothing was stored",
    );
  }
}

/** Throws ClaimLapsedError when the claim taken at `claimedAtMs` may have been taken over. */
export function assertClaimHeld(claimedAtMs: number, leaseMs: number, clock: Clock): void {
  if (clock() - claimedAtMs >= leaseMs) throw new ClaimLapsedError();
}

/** What claiming a send's idempotency key found. */
export type SendClaim<T> =
  /** A retry of a stored send: answer with it. */
  | { kind: "original"; original: T }
  /** This send owns the key from `claimedAtMs` (its own claim, or one taken over). */
  | { kind: "claimed"; claimedAtMs: number };

/**
 * Claims the key of a send to be stored. On a retry it resolves the stored
 * original, waiting briefly while the original is in flight (then
 * SEND_IN_PROGRESS); a claim past its lease with nothing stored (its sender
 * died) is taken over.
 */
export async function claimSend<T>(
  claims: Pick<MessageStore, "claimDedupKey">,
  key: string,
  options: {
    windowMs: number;
    leaseMs: number;
    clock: Clock;
    /** The stored message of the key, claimed no earlier than `sinceMs`. */
    lookup: (sinceMs: number) => Promise<T | undefined>;
  },
): Promise<SendClaim<T>> {
  const { clock, leaseMs } = options;
  const now = clock();
  const claim = await claims.claimDedupKey(key, now, options.windowMs);
  if (claim.kind === "claimed") return { kind: "claimed", claimedAtMs: now };
  const deadline = clock() + IN_PROGRESS_WAIT_MS;
  for (;;) {
    const original = await options.lookup(claim.claimedAtMs - options.windowMs);
    if (original !== undefined) return { kind: "original", original };
    if (clock() - claim.claimedAtMs >= leaseMs) {
      const takenAt = clock();
      const takeover = await claims.claimDedupKey(key, takenAt, leaseMs);
      if (takeover.kind === "claimed") return { kind: "claimed", claimedAtMs: takenAt };
    }
    if (clock() >= deadline) {
      throw new DomainError(
        "unavailable",
        ErrorReason.SEND_IN_PROGRESS,
        "an identical send is still being processed; retry shortly",
      );
    }
    await new Promise((r) => setTimeout(r, IN_PROGRESS_POLL_MS));
  }
}
