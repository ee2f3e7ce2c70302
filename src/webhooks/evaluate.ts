import type { WebhookRequest } from "../gen/im/v1/webhook_pb.js";
import {
  type BeforeSendOutcome,
  type BeforeSendVerdict,
  type BodyValidator,
  beforeSendOutcomeOf,
  classifyNotification,
  decideBeforeSend,
  type NotificationVerdict,
} from "./decision.js";
import { contentOf, isBeforeSendEvent } from "./events.js";
import type { WebhookHttpResult } from "./http-caller.js";

/** What the server makes of one request's result, whatever the event type. */
export type RequestEvaluation =
  | { type: "before-send"; outcome: BeforeSendOutcome; verdict: BeforeSendVerdict }
  | { type: "notification"; verdict: NotificationVerdict };

/**
 * Applies the decision that fits the request's event: before-send events get a
 * BeforeSendVerdict, every other event a NotificationVerdict. Throws only for a
 * request without a payload (decodeWebhookRequest never yields one).
 */
export function evaluateWebhookResult(
  request: WebhookRequest,
  result: WebhookHttpResult,
  validateBody: BodyValidator,
): RequestEvaluation {
  const event = request.event;
  if (event.case === undefined) throw new Error("webhook request has no event payload");
  if (isBeforeSendEvent(event)) {
    const outcome = beforeSendOutcomeOf(result);
    return {
      type: "before-send",
      outcome,
      verdict: decideBeforeSend(outcome, contentOf(event), validateBody),
    };
  }
  return { type: "notification", verdict: classifyNotification(result) };
}
