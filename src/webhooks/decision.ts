import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import { BeforeSendAction, type BeforeSendReply } from "../gen/im/v1/webhook_pb.js";
import { parseBeforeSendReply } from "./encoding.js";
import type { MessageContent } from "./events.js";
import type { WebhookHttpResult } from "./http-caller.js";

/**
 * The messaging component's own rules for a message body (element fields, one
 * custom element at most, size limit), applied to a MODIFY result. Returns the
 * reason the content is invalid, or undefined when it is valid.
 */
export type BodyValidator = (
  body: readonly MessageElement[],
  cloudCustomData: string,
) => string | undefined;

/** A before-send call's outcome, as far as the decision needs to know it. */
export type BeforeSendOutcome =
  | { kind: "reply"; reply: BeforeSendReply }
  | { kind: "timeout" }
  | { kind: "connection-error"; error: string }
  | { kind: "http-status"; status: number }
  | { kind: "unparseable"; error: string };

export const BEFORE_SEND_VERDICT_KINDS = [
  "delivered-as-is",
  "modified",
  "denied",
  "dropped",
  "timed-out",
  "endpoint-error",
  "invalid-modification",
] as const;

export type BeforeSendVerdictKind = (typeof BEFORE_SEND_VERDICT_KINDS)[number];

/** What the server does with a message after its before-send webhook (docs/architecture.md, "Webhook semantics"). */
export type BeforeSendVerdict =
  | { kind: "delivered-as-is" }
  | { kind: "modified"; body: MessageElement[]; cloudCustomData: string }
  | { kind: "denied"; appCode: number; appText: string }
  | { kind: "dropped" }
  | { kind: "timed-out" }
  | { kind: "endpoint-error"; reason: string }
  | { kind: "invalid-modification"; reason: string };

/** Maps the raw HTTP result of a before-send call to the outcome the decision reads. */
export function beforeSendOutcomeOf(result: WebhookHttpResult): BeforeSendOutcome {
  switch (result.kind) {
    case "timeout":
      return { kind: "timeout" };
    case "connection-error":
      return { kind: "connection-error", error: result.error };
    case "response": {
      if (result.status < 200 || result.status > 299) {
        return { kind: "http-status", status: result.status };
      }
      if (result.oversized) return { kind: "unparseable", error: "reply body too large" };
      const parsed = parseBeforeSendReply(result.body);
      return parsed.ok
        ? { kind: "reply", reply: parsed.reply }
        : { kind: "unparseable", error: parsed.error };
    }
  }
}

/**
 * THE before-send decision, shared by the server and the simulator. Pure: the
 * same outcome, message and validator always give the same verdict. Every
 * failure of the endpoint fails open (the original is delivered) because an
 * app's outage must not take messaging down with it.
 */
export function decideBeforeSend(
  outcome: BeforeSendOutcome,
  original: MessageContent,
  validateBody: BodyValidator,
): BeforeSendVerdict {
  switch (outcome.kind) {
    case "timeout":
      return { kind: "timed-out" };
    case "connection-error":
      return { kind: "endpoint-error", reason: `connection failed: ${outcome.error}` };
    case "http-status":
      return { kind: "endpoint-error", reason: `HTTP status ${outcome.status}` };
    case "unparseable":
      return { kind: "endpoint-error", reason: `bad reply: ${outcome.error}` };
    case "reply":
      return decideReply(outcome.reply, original, validateBody);
  }
}

function decideReply(
  reply: BeforeSendReply,
  original: MessageContent,
  validateBody: BodyValidator,
): BeforeSendVerdict {
  switch (reply.action) {
    case BeforeSendAction.ALLOW:
      return { kind: "delivered-as-is" };
    case BeforeSendAction.DENY:
      return { kind: "denied", appCode: reply.appCode, appText: reply.appText };
    case BeforeSendAction.DROP:
      return { kind: "dropped" };
    case BeforeSendAction.MODIFY: {
      // Empty body / absent custom data mean "keep": a reply may change just one of them.
      const body = reply.body.length > 0 ? reply.body : original.body;
      const cloudCustomData = reply.cloudCustomData ?? original.cloudCustomData;
      let problem: string | undefined;
      try {
        problem = validateBody(body, cloudCustomData);
      } catch (err) {
        problem = `validator failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      return problem === undefined
        ? { kind: "modified", body, cloudCustomData }
        : { kind: "invalid-modification", reason: problem };
    }
    default:
      return { kind: "endpoint-error", reason: `bad reply: unknown action ${reply.action}` };
  }
}

/** Whether the message is stored and delivered under this verdict. */
export const verdictDelivers = (verdict: BeforeSendVerdict): boolean =>
  verdict.kind !== "denied" && verdict.kind !== "dropped";

/**
 * The content to store and deliver (and to report in after-send), or undefined
 * when the message must not be delivered.
 */
export function contentAfterVerdict(
  verdict: BeforeSendVerdict,
  original: MessageContent,
): MessageContent | undefined {
  if (verdict.kind === "modified") {
    return { body: verdict.body, cloudCustomData: verdict.cloudCustomData };
  }
  return verdictDelivers(verdict) ? original : undefined;
}

export const NOTIFICATION_VERDICT_KINDS = ["acknowledged", "timed-out", "endpoint-error"] as const;

/**
 * For events whose reply is ignored (after-send, group changes): whether the
 * endpoint took it. The server only counts and logs this; it never retries.
 */
export type NotificationVerdict =
  | { kind: "acknowledged" }
  | { kind: "timed-out" }
  | { kind: "endpoint-error"; reason: string };

export function classifyNotification(result: WebhookHttpResult): NotificationVerdict {
  switch (result.kind) {
    case "timeout":
      return { kind: "timed-out" };
    case "connection-error":
      return { kind: "endpoint-error", reason: `connection failed: ${result.error}` };
    case "response":
      return result.status >= 200 && result.status <= 299
        ? { kind: "acknowledged" }
        : { kind: "endpoint-error", reason: `HTTP status ${result.status}` };
  }
}
