import { randomUUID } from "node:crypto";
import type { Clock } from "../common/clock.js";
import type { WebhookRequest } from "../gen/im/v1/webhook_pb.js";
import type { Logger } from "../log/logger.js";
import { noMeters, type WebhookMeter } from "../metrics/meters.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import type { WebhookConfig } from "./config.js";
import {
  BEFORE_SEND_VERDICT_KINDS,
  type BeforeSendVerdict,
  type BeforeSendVerdictKind,
  type BodyValidator,
  beforeSendOutcomeOf,
  classifyNotification,
  decideBeforeSend,
  NOTIFICATION_VERDICT_KINDS,
  type NotificationVerdict,
} from "./decision.js";
import { createWebhookRequest } from "./encoding.js";
import {
  type AfterRecallEvent,
  type AfterSendEvent,
  type BeforeSendEvent,
  contentOf,
  eventNameOfCase,
  type GroupChangeEvent,
  type StateChangeEvent,
  type WebhookEvent,
  type WebhookEventName,
} from "./events.js";
import {
  createNodeHttpTransport,
  type HttpTransport,
  type MonotonicNow,
  type WebhookHttpResult,
} from "./http-caller.js";
import { sendWebhookRequest } from "./sender.js";

export interface WebhookClientDeps {
  /** Undefined: webhooks are off and every call is a no-op that delivers as is. */
  config: WebhookConfig | undefined;
  logger: Logger;
  clock: Clock;
  /** Default: a keep-alive node:http transport owned (and closed) by the client. */
  transport?: HttpTransport;
  now?: MonotonicNow;
  newEventId?: () => string;
  /**
   * Fire-and-forget requests in flight beyond this are dropped (counted and
   * logged), so an endpoint that hangs cannot pile up sockets and memory
   * under load. Default 2000.
   */
  maxInFlightNotifications?: number;
  /** Outcomes and latency by event type; off by default. */
  meter?: WebhookMeter;
  /** A client span per call, its `traceparent` sent with the request; off by default. */
  tracing?: Tracing;
}

export type NotificationVerdictKind = (typeof NOTIFICATION_VERDICT_KINDS)[number];

export interface WebhookStats {
  /** Before-send calls made, by verdict (timed-out and endpoint-error are the failures). */
  beforeSend: Record<BeforeSendVerdictKind, number>;
  /** After-send and group-change calls finished, by outcome. */
  notifications: Record<NotificationVerdictKind, number> & {
    /** Not sent because too many were in flight. */
    droppedOverload: number;
    /** Sent and not finished yet. */
    inFlight: number;
  };
}

export interface WebhookClient {
  /** Whether events of this kind are sent at all (config present and event enabled). */
  isEnabled(name: WebhookEventName): boolean;
  /**
   * Asks the app about a message and returns what to do with it. Never throws
   * and never takes longer than the configured timeout (plus timer jitter).
   * When the event is not enabled, returns delivered-as-is without a request.
   */
  beforeSend(event: BeforeSendEvent, validateBody: BodyValidator): Promise<BeforeSendVerdict>;
  /** Reports a delivered message. Returns at once; never throws; failures are counted and logged. */
  afterSend(event: AfterSendEvent): void;
  /** Reports a group life-cycle change, like afterSend. */
  notifyGroupChange(event: GroupChangeEvent): void;
  /** Reports a recalled message, like afterSend. */
  afterRecall(event: AfterRecallEvent): void;

  /** Reports a device's login, logout, disconnect or kick, like afterSend. */
  notifyStateChange(event: StateChangeEvent): void;
  stats(): WebhookStats;
  /** Resolves when every fire-and-forget request has finished (graceful shutdown, tests). */
  drain(): Promise<void>;
  /** Drains, then closes idle connections of a transport the client created. */
  close(): Promise<void>;
}

const DEFAULT_MAX_IN_FLIGHT_NOTIFICATIONS = 2000;

// Verdicts that mean the app's endpoint misbehaved: worth a warning, not just a debug line.
const PROBLEM_VERDICTS: ReadonlySet<string> = new Set([
  "timed-out",
  "endpoint-error",
  "invalid-modification",
]);

export function createWebhookClient(deps: WebhookClientDeps): WebhookClient {
  const { config, clock } = deps;
  const logger = deps.logger.child({ component: "webhooks" });
  const newEventId = deps.newEventId ?? randomUUID;
  const maxInFlight = deps.maxInFlightNotifications ?? DEFAULT_MAX_IN_FLIGHT_NOTIFICATIONS;
  const beforeSendCounts = Object.fromEntries(
    BEFORE_SEND_VERDICT_KINDS.map((k) => [k, 0]),
  ) as Record<BeforeSendVerdictKind, number>;
  const notificationCounts = Object.fromEntries(
    NOTIFICATION_VERDICT_KINDS.map((k) => [k, 0]),
  ) as Record<NotificationVerdictKind, number>;
  let droppedOverload = 0;
  const inFlight = new Set<Promise<void>>();
  const ownTransport = deps.transport ?? createNodeHttpTransport();
  const meter = deps.meter ?? noMeters;
  const tracing = deps.tracing ?? noTracing;
  // Adds the active span's trace context to every request.
  const transport: HttpTransport = tracing.enabled
    ? {
        post: (r) => ownTransport.post({ ...r, headers: { ...r.headers, ...tracing.headers() } }),
        close: () => ownTransport.close(),
      }
    : ownTransport;

  const drain = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };

  const isEnabled = (name: WebhookEventName): boolean => config?.enabledEvents.has(name) === true;

  const buildRequest = (c: WebhookConfig, event: WebhookEvent): WebhookRequest =>
    createWebhookRequest({ appId: c.appId, eventTimeMs: clock(), eventId: newEventId() }, event);

  const send = (
    c: WebhookConfig,
    name: WebhookEventName,
    request: WebhookRequest,
  ): Promise<WebhookHttpResult> =>
    tracing.span(
      `webhook ${name}`,
      () =>
        sendWebhookRequest({ url: c.url, secret: c.secret, timeoutMs: c.timeoutMs }, request, {
          clock,
          transport,
          ...(deps.now === undefined ? {} : { now: deps.now }),
        }),
      { kind: "client", attributes: { "im.webhook.event": name } },
    );

  const beforeSend = async (
    event: BeforeSendEvent,
    validateBody: BodyValidator,
  ): Promise<BeforeSendVerdict> => {
    const name = eventNameOfCase(event.case);
    if (config === undefined || !config.enabledEvents.has(name)) return { kind: "delivered-as-is" };
    let eventId = "";
    try {
      const request = buildRequest(config, event);
      eventId = request.eventId;
      const result = await send(config, name, request);
      const verdict = decideBeforeSend(beforeSendOutcomeOf(result), contentOf(event), validateBody);
      beforeSendCounts[verdict.kind] += 1;
      meter.webhookFinished(name, verdict.kind, result.latencyMs / 1000);
      const fields = { event: name, eventId, verdict: verdict.kind, ...resultFields(result) };
      if (PROBLEM_VERDICTS.has(verdict.kind)) {
        logger.warn("webhook failed; delivering the original message", {
          ...fields,
          ...("reason" in verdict ? { reason: verdict.reason } : {}),
        });
      } else {
        logger.debug("webhook verdict", fields);
      }
      return verdict;
    } catch (err) {
      // Only a bug of ours gets here; fail open exactly like an endpoint failure.
      beforeSendCounts["endpoint-error"] += 1;
      logger.error("webhook before-send failed internally; delivering the original message", {
        event: name,
        eventId,
        err,
      });
      return { kind: "endpoint-error", reason: "internal error" };
    }
  };

  const notify = (
    event: AfterSendEvent | GroupChangeEvent | AfterRecallEvent | StateChangeEvent,
  ): void => {
    try {
      const name = eventNameOfCase(event.case);
      if (config === undefined || !config.enabledEvents.has(name)) return;
      if (inFlight.size >= maxInFlight) {
        droppedOverload += 1;
        logger.warn("webhook not sent: too many requests in flight", { event: name, maxInFlight });
        return;
      }
      // Built and encoded before this returns (send runs synchronously up to the socket write),
      // so later changes to the caller's objects cannot leak into the request.
      const request = buildRequest(config, event);
      const task = send(config, name, request)
        .then((result) => record(name, request.eventId, result, classifyNotification(result)))
        .catch((err: unknown) => {
          logger.error("webhook notification failed internally", { event: name, err });
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    } catch (err) {
      logger.error("webhook notification failed internally", { err });
    }
  };

  const record = (
    name: WebhookEventName,
    eventId: string,
    result: WebhookHttpResult,
    verdict: NotificationVerdict,
  ): void => {
    notificationCounts[verdict.kind] += 1;
    meter.webhookFinished(name, verdict.kind, result.latencyMs / 1000);
    if (verdict.kind === "acknowledged") {
      logger.debug("webhook acknowledged", { event: name, eventId, ...resultFields(result) });
    } else {
      logger.warn("webhook notification failed; not retried", {
        event: name,
        eventId,
        verdict: verdict.kind,
        ...resultFields(result),
        ...("reason" in verdict ? { reason: verdict.reason } : {}),
      });
    }
  };

  return {
    isEnabled,
    beforeSend,
    afterSend: notify,
    notifyGroupChange: notify,
    afterRecall: notify,

    notifyStateChange: notify,
    stats: () => ({
      beforeSend: { ...beforeSendCounts },
      notifications: { ...notificationCounts, droppedOverload, inFlight: inFlight.size },
    }),
    drain,
    close: async () => {
      await drain();
      if (deps.transport === undefined) ownTransport.close();
    },
  };
}

const resultFields = (result: WebhookHttpResult): Record<string, unknown> => ({
  latencyMs: Math.round(result.latencyMs),
  ...(result.kind === "response" ? { status: result.status } : {}),
  ...(result.kind === "connection-error" ? { error: result.error, code: result.code } : {}),
});
