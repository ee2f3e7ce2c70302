import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Clock } from "../../src/common/clock.js";
import type { WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import {
  type BodyValidator,
  COMMAND_HEADER,
  DEFAULT_RELAY_MARGIN_MS,
  DEFAULT_REPLAY_WINDOW_MS,
  decodeWebhookRequest,
  EVENT_ID_HEADER,
  evaluateWebhookResult,
  eventNameOfCommand,
  type HttpTransport,
  type MonotonicNow,
  postWebhook,
  proxyBudgetMs,
  SIGNATURE_HEADER,
  SIGNATURE_VERSION_HEADER,
  TIMESTAMP_HEADER,
  verifySignature,
} from "../../src/webhooks/index.js";
import { type JsonlWriter, recordedReplyOf, recordLineFor } from "./events-file.js";
import { closeServer, header, listen, readBody, sendText } from "./http-server.js";
import { verdictMeaning, verdictNameOf } from "./verdicts.js";

export interface RecordOptions {
  host: string;
  port: number;
  /** The developer's real endpoint. */
  target: string;
  /** How long the endpoint may take; match the server's (default 2000). */
  timeoutMs: number;
  out: JsonlWriter;
  /** Verify incoming signatures (optional: the target verifies them anyway). */
  secret: string | undefined;
  replayWindowMs?: number;
  /** Only these event types are recorded (all are forwarded and relayed). */
  only?: ReadonlySet<string>;
  validateBody: BodyValidator;
  /** Wall clock: signature window and the server's deadline (from X-IM-Timestamp). */
  clock: Clock;
  /** Monotonic clock for the endpoint's latency (tests inject one). */
  now?: MonotonicNow;
  /** Kept back for relaying a reply to the server; default DEFAULT_RELAY_MARGIN_MS. */
  relayMarginMs?: number;
  transport?: HttpTransport;
  log: (line: string) => void;
}

// Headers that make the forwarded request the one the server sent; the body is forwarded
// byte for byte, so the signature still verifies at the target.
const FORWARDED = [
  TIMESTAMP_HEADER,
  SIGNATURE_HEADER,
  SIGNATURE_VERSION_HEADER,
  EVENT_ID_HEADER,
  COMMAND_HEADER,
  "user-agent",
];

/**
 * A pass-through proxy: the server posts here, we forward to the real endpoint
 * with the server's timeout, relay its answer, and record event + reply + verdict.
 * When the endpoint times out the proxy stays silent too, so the server times
 * out itself; when the endpoint's connection fails, the server's is closed.
 */
export async function startRecord(
  options: RecordOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const pending = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const task = proxy(req, res, options).catch((err: unknown) => {
      options.log(`error: ${(err as Error).message}`);
      res.destroy();
    });
    pending.add(task);
    void task.finally(() => pending.delete(task));
  });
  const url = await listen(server, options.host, options.port);
  return {
    url,
    close: async () => {
      await closeServer(server);
      await Promise.allSettled([...pending]);
    },
  };
}

async function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  options: RecordOptions,
): Promise<void> {
  const body = await readBody(req);
  if (req.method !== "POST" || body === undefined) {
    sendText(
      res,
      req.method !== "POST" ? 405 : 413,
      JSON.stringify({ error: "not a webhook request" }),
    );
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
      options.log(`rejected ${check.failure}: ${check.message}`);
      sendText(res, 401, JSON.stringify({ error: check.failure, message: check.message }));
      return;
    }
  }
  const text = body.toString("utf8");
  let request: WebhookRequest;
  try {
    request = decodeWebhookRequest(text);
  } catch (err) {
    options.log(`rejected bad-request: ${(err as Error).message}`);
    sendText(res, 400, JSON.stringify({ error: "bad-request", message: (err as Error).message }));
    return;
  }
  const headers: Record<string, string> = {};
  for (const name of FORWARDED) {
    const value = header(req, name);
    if (value !== undefined) headers[name] = value;
  }
  const nowMs = options.clock();
  const receivedAt = new Date(nowMs).toISOString();
  // The endpoint gets what is left of the server's own budget, so a reply the server
  // would not see in time is never relayed nor recorded as a reply.
  const signedAt = Number(header(req, TIMESTAMP_HEADER));
  const timeoutMs = Number.isFinite(signedAt)
    ? proxyBudgetMs({
        timeoutMs: options.timeoutMs,
        signedAtMs: signedAt,
        nowMs,
        relayMarginMs: options.relayMarginMs ?? DEFAULT_RELAY_MARGIN_MS,
      })
    : options.timeoutMs;
  const result = await postWebhook({
    url: options.target,
    body: text,
    headers,
    timeoutMs,
    ...(options.transport === undefined ? {} : { transport: options.transport }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (result.kind === "response") {
    sendText(res, result.status, result.body);
  } else if (result.kind === "timeout") {
    // Stay silent so the server runs into its own timeout, exactly as without the proxy.
    holdThenClose(res);
  } else {
    res.socket?.destroy();
  }
  const name = eventNameOfCommand(request.command) ?? "unknown";
  if (options.only !== undefined && !options.only.has(name)) return;
  const evaluation = evaluateWebhookResult(request, result, options.validateBody);
  options.log(
    `${name} ${request.eventId} ${Math.round(result.latencyMs)} ms → ${verdictMeaning(evaluation)}`,
  );
  options.out.write(
    recordLineFor(request, {
      receivedAt,
      reply: recordedReplyOf(result),
      verdict: verdictNameOf(evaluation),
    }),
  );
}

const HOLD_AFTER_TIMEOUT_MS = 30_000;

function holdThenClose(res: ServerResponse): void {
  const timer = setTimeout(() => res.socket?.destroy(), HOLD_AFTER_TIMEOUT_MS);
  res.on("close", () => clearTimeout(timer));
}
