import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Clock } from "../../src/common/clock.js";
import type { WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import {
  type BodyValidator,
  COMMAND_HEADER,
  DEFAULT_REPLAY_WINDOW_MS,
  decodeWebhookRequest,
  EVENT_ID_HEADER,
  evaluateWebhookResult,
  eventNameOfCommand,
  type HttpTransport,
  postWebhook,
  SIGNATURE_HEADER,
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
  validateBody: BodyValidator;
  clock: Clock;
  transport?: HttpTransport;
  log: (line: string) => void;
}

// Headers that make the forwarded request the one the server sent; the body is forwarded
// byte for byte, so the signature still verifies at the target.
const FORWARDED = [
  TIMESTAMP_HEADER,
  SIGNATURE_HEADER,
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
      timestamp: header(req, TIMESTAMP_HEADER),
      signature: header(req, SIGNATURE_HEADER),
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
  const receivedAt = new Date(options.clock()).toISOString();
  const result = await postWebhook({
    url: options.target,
    body: text,
    headers,
    timeoutMs: options.timeoutMs,
    ...(options.transport === undefined ? {} : { transport: options.transport }),
  });
  if (result.kind === "response") {
    sendText(res, result.status, result.body);
  } else if (result.kind === "timeout") {
    // Stay silent so the server runs into its own timeout, exactly as without the proxy.
    holdThenClose(res);
  } else {
    res.socket?.destroy();
  }
  const evaluation = evaluateWebhookResult(request, result, options.validateBody);
  options.log(
    `${eventNameOfCommand(request.command) ?? "unknown"} ${request.eventId} ${Math.round(result.latencyMs)} ms → ${verdictMeaning(evaluation)}`,
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
