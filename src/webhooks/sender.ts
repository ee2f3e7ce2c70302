import type { Clock } from "../common/clock.js";
import type { WebhookRequest } from "../gen/im/v1/webhook_pb.js";
import { encodeWebhookRequest } from "./encoding.js";
import { eventNameOfCommand } from "./events.js";
import {
  type HttpTransport,
  type MonotonicNow,
  postWebhook,
  type WebhookHttpResult,
} from "./http-caller.js";
import { signedHeaders } from "./signing.js";

/** Where one request goes and how long it may take. */
export interface WebhookTarget {
  url: string;
  secret: string;
  timeoutMs: number;
}

export interface SendDeps {
  /** Wall clock for the signature timestamp. */
  clock: Clock;
  transport?: HttpTransport;
  now?: MonotonicNow;
}

export const WEBHOOK_USER_AGENT = "im-server-webhook/1";

/** Exactly the headers and body the server sends for a request (the simulator relies on it). */
export function buildWebhookHttpRequest(
  secret: string,
  request: WebhookRequest,
  timestampMs: number,
): { body: string; headers: Record<string, string> } {
  const body = encodeWebhookRequest(request);
  return {
    body,
    headers: {
      "user-agent": WEBHOOK_USER_AGENT,
      ...signedHeaders(
        secret,
        {
          timestampMs,
          command: eventNameOfCommand(request.command) ?? "unknown",
          eventId: request.eventId,
        },
        body,
      ),
    },
  };
}

/** Encodes, signs and POSTs one request. Never throws. */
export async function sendWebhookRequest(
  target: WebhookTarget,
  request: WebhookRequest,
  deps: SendDeps,
): Promise<WebhookHttpResult> {
  const { body, headers } = buildWebhookHttpRequest(target.secret, request, deps.clock());
  return postWebhook({
    url: target.url,
    body,
    headers,
    timeoutMs: target.timeoutMs,
    ...(deps.transport === undefined ? {} : { transport: deps.transport }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
}
