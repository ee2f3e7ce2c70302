import { clone } from "@bufbuild/protobuf";
import type { Clock } from "../../src/common/clock.js";
import { type WebhookRequest, WebhookRequestSchema } from "../../src/gen/im/v1/webhook_pb.js";
import {
  type BodyValidator,
  evaluateWebhookResult,
  eventNameOfCommand,
  type HttpTransport,
  type RequestEvaluation,
  sendWebhookRequest,
  type WebhookEventName,
  type WebhookHttpResult,
} from "../../src/webhooks/index.js";
import type { LoadedEvent } from "./events-file.js";
import { type VerdictName, verdictNameOf } from "./verdicts.js";

export interface ReplayOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** Requests in flight at once (default 1: events are sent in file order). */
  concurrency: number;
  /** Upper bound on requests started per second; undefined for no limit. */
  ratePerSec: number | undefined;
  validateBody: BodyValidator;
  /** Give each request a fresh event id (for endpoints that ignore ids they have seen). */
  newEventIds: boolean;
  clock: Clock;
  transport?: HttpTransport;
  /** Called as each event finishes (in completion order). */
  onResult?: (result: ReplayResult) => void;
  /** Called when an event is sent. */
  onStart?: (index: number) => void;
}

export interface ReplayResult {
  /** 1-based position in the input. */
  index: number;
  source: string;
  name: string | undefined;
  event: WebhookEventName | "unknown";
  request: WebhookRequest;
  result: WebhookHttpResult;
  evaluation: RequestEvaluation;
  verdict: VerdictName;
  recordedVerdict: string | undefined;
}

let idCounter = 0;

function withFreshId(request: WebhookRequest, clock: Clock): WebhookRequest {
  const copy = clone(WebhookRequestSchema, request);
  copy.eventId = `replay-${clock().toString(36)}-${++idCounter}`;
  return copy;
}

/** Sends every event as the server would and evaluates each reply with the server's decision. */
export async function runReplay(
  events: readonly LoadedEvent[],
  options: ReplayOptions,
): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  const started = performance.now();
  const spacingMs = options.ratePerSec === undefined ? 0 : 1000 / options.ratePerSec;
  let next = 0;

  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const loaded = events[i];
      if (loaded === undefined) return;
      // Slot i starts no earlier than i * spacing after the run began: a steady rate, no bursts.
      const wait = started + i * spacingMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      options.onStart?.(i + 1);
      const request = options.newEventIds
        ? withFreshId(loaded.request, options.clock)
        : loaded.request;
      const result = await sendWebhookRequest(
        { url: options.url, secret: options.secret, timeoutMs: options.timeoutMs },
        request,
        {
          clock: options.clock,
          ...(options.transport === undefined ? {} : { transport: options.transport }),
        },
      );
      const evaluation = evaluateWebhookResult(request, result, options.validateBody);
      const replayed: ReplayResult = {
        index: i + 1,
        source: loaded.source,
        name: loaded.name,
        event: eventNameOfCommand(request.command) ?? "unknown",
        request,
        result,
        evaluation,
        verdict: verdictNameOf(evaluation),
        recordedVerdict: loaded.recordedVerdict,
      };
      results.push(replayed);
      options.onResult?.(replayed);
    }
  };

  const workers = Math.max(1, Math.min(options.concurrency, events.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results.sort((a, b) => a.index - b.index);
}
