import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Clock } from "../../src/common/clock.js";
import type { WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import {
  type BodyValidator,
  COMMAND_HEADER,
  createSeenEventIds,
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  decodeWebhookRequest,
  EVENT_ID_HEADER,
  evaluateWebhookResult,
  eventNameOfCommand,
  type SeenEventIds,
  verifySignature,
  type WebhookHttpResult,
} from "../../src/webhooks/index.js";
import { type JsonlWriter, type RecordedReply, recordLineFor } from "./events-file.js";
import { closeServer, header, listen, readBody, sendText, sleep } from "./http-server.js";
import { describeAction, type Rule, type RuleSet, replyFor, selectRule } from "./rules.js";
import { verdictNameOf } from "./verdicts.js";

export interface ServeOptions {
  host: string;
  port: number;
  rules: RuleSet;
  /** Verify signatures with this secret; undefined accepts unsigned requests (--no-verify). */
  secret: string | undefined;
  replayWindowMs?: number;
  /** Only these event types are answered by the rules, logged and recorded; others get "allow". */
  only?: ReadonlySet<string>;
  /** The caller's timeout, to record what the server concludes from a long delay. */
  timeoutMs?: number;
  /** Every accepted event is appended here (replayable). */
  record?: JsonlWriter;
  validateBody: BodyValidator;
  clock: Clock;
  /** One line per request, for the terminal. */
  log: (line: string) => void;
}

export interface ServeStats {
  accepted: number;
  rejected: number;
}

export interface RunningServer {
  url: string;
  stats: ServeStats;
  close(): Promise<void>;
}

/**
 * A mock app backend: verifies each request's signature, answers by the first
 * matching rule, and records the event with the verdict the server applies to
 * that answer.
 */
export async function startServe(options: ServeOptions): Promise<RunningServer> {
  const stats: ServeStats = { accepted: 0, rejected: 0 };
  const seen = createSeenEventIds(options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS);
  const pending = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const task = handle(req, res, options, stats, seen).catch((err: unknown) => {
      options.log(`error: ${(err as Error).message}`);
      sendText(res, 500, JSON.stringify({ error: "internal error" }));
    });
    pending.add(task);
    void task.finally(() => pending.delete(task));
  });
  const url = await listen(server, options.host, options.port);
  return {
    url,
    stats,
    close: async () => {
      await closeServer(server);
      await Promise.allSettled([...pending]);
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: ServeOptions,
  stats: ServeStats,
  seen: SeenEventIds,
): Promise<void> {
  if (req.method !== "POST") {
    sendText(res, 405, JSON.stringify({ error: "POST only" }));
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    stats.rejected += 1;
    sendText(res, 413, JSON.stringify({ error: "body too large" }));
    return;
  }
  if (options.secret !== undefined) {
    const check = verifySignature({
      secret: options.secret,
      body,
      header: (name) => header(req, name),
      nowMs: options.clock(),
      windowMs: options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS,
    });
    if (!check.ok) {
      stats.rejected += 1;
      options.log(`rejected ${check.failure}: ${check.message}`);
      sendText(res, 401, JSON.stringify({ error: check.failure, message: check.message }));
      return;
    }
  }
  let request: WebhookRequest;
  try {
    request = decodeWebhookRequest(body.toString("utf8"));
  } catch (err) {
    stats.rejected += 1;
    options.log(`rejected bad-request: ${(err as Error).message}`);
    sendText(res, 400, JSON.stringify({ error: "bad-request", message: (err as Error).message }));
    return;
  }
  const eventName = eventNameOfCommand(request.command) ?? "unknown";
  if (options.only !== undefined && !options.only.has(eventName)) {
    // Filtered out: answered as a permissive backend would, not logged, recorded or checked for replays.
    sendText(res, 200, JSON.stringify({ action: "BEFORE_SEND_ACTION_ALLOW" }));
    return;
  }
  if (options.secret !== undefined) {
    // The signature covers the headers' id and command; the body must name the same event.
    if (
      header(req, EVENT_ID_HEADER) !== request.eventId ||
      header(req, COMMAND_HEADER) !== eventName
    ) {
      stats.rejected += 1;
      options.log(`rejected header-mismatch: ${request.eventId}`);
      sendText(res, 400, JSON.stringify({ error: "header-mismatch" }));
      return;
    }
    // A captured request re-sent within the timestamp window verifies; its id gives it away.
    if (!seen.firstSighting(request.eventId, options.clock())) {
      stats.rejected += 1;
      options.log(`rejected replayed-event: ${request.eventId}`);
      sendText(res, 409, JSON.stringify({ error: "replayed-event", eventId: request.eventId }));
      return;
    }
  }
  stats.accepted += 1;
  const receivedAt = new Date(options.clock()).toISOString();
  const rule = selectRule(options.rules, request);
  options.log(
    `${eventName} ${request.eventId} ${who(request)} → ${rule.name}: ${describeAction(rule)}`,
  );
  const reply = replyFor(rule.action, request);
  // Recorded on receipt: the answer is already decided, and a caller that times out
  // during the delay must still find the event in the file.
  options.record?.write(
    recordLineFor(request, {
      receivedAt,
      reply: reply.kind === "close" ? { outcome: "closed" } : recorded(reply, rule),
      verdict: expectedVerdict(request, rule, reply, options),
    }),
  );
  if (rule.delayMs > 0) await sleep(rule.delayMs);
  if (reply.kind === "close") {
    res.socket?.destroy();
  } else {
    sendText(res, reply.status, reply.body);
  }
}

const recorded = (reply: { status: number; body: string }, rule: Rule): RecordedReply => ({
  outcome: "response",
  status: reply.status,
  body: reply.body,
  latencyMs: rule.delayMs,
});

/** The verdict the server reaches for this answer, via the same decision code. */
function expectedVerdict(
  request: WebhookRequest,
  rule: Rule,
  reply: ReturnType<typeof replyFor>,
  options: ServeOptions,
): string {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const result: WebhookHttpResult =
    rule.delayMs >= timeoutMs
      ? { kind: "timeout", latencyMs: timeoutMs }
      : reply.kind === "close"
        ? {
            kind: "connection-error",
            error: "socket closed",
            code: "ECONNRESET",
            latencyMs: rule.delayMs,
          }
        : {
            kind: "response",
            status: reply.status,
            body: reply.body,
            oversized: false,
            latencyMs: rule.delayMs,
          };
  return verdictNameOf(evaluateWebhookResult(request, result, options.validateBody));
}

function who(request: WebhookRequest): string {
  const e = request.event;
  switch (e.case) {
    case "c2cBeforeSend":
    case "c2cAfterSend":
      return `${e.value.fromAccount}→${e.value.toAccount}`;
    case "groupBeforeSend":
    case "groupAfterSend":
      return `${e.value.fromAccount}→${e.value.groupId}`;
    case "c2cBeforeEdit":
      return `${e.value.editorAccount}✎${e.value.fromAccount}→${e.value.toAccount}`;
    case "groupBeforeEdit":
      return `${e.value.editorAccount}✎${e.value.fromAccount}→${e.value.groupId}`;
    case "c2cAfterRecall":
      return `${e.value.recalledByAccount}↺${e.value.fromAccount}→${e.value.toAccount}`;
    case "groupAfterRecall":
      return `${e.value.recalledByAccount}↺${e.value.fromAccount}→${e.value.groupId}`;

    case "userAfterStateChange":
      return `${e.value.userAccount}/${e.value.deviceId}`;
    case undefined:
      return "";
    default:
      return `${e.value.operatorAccount}@${e.value.groupId}`;
  }
}
