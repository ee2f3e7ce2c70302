import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/** Monotonic ms for latency; wall-clock time can jump and would distort timeouts. */
export type MonotonicNow = () => number;

export const monotonicNow: MonotonicNow = () => performance.now();

/** Replies larger than this are not read to the end; no valid reply comes close. */
export const DEFAULT_MAX_REPLY_BYTES = 1024 * 1024;

/** A reply as read off the wire. */
export interface TransportReply {
  status: number;
  /** Reply body as text; empty when `oversized`. */
  body: string;
  /** True when the body exceeded the size limit and was abandoned. */
  oversized: boolean;
}

/**
 * Sends one POST and reads the reply. Must stop (reject) promptly once
 * `signal` aborts; must reject on network failures. postWebhook owns the
 * timeout and the interpretation of failures.
 */
export interface HttpTransport {
  post(input: {
    url: string;
    headers: Record<string, string>;
    body: string;
    signal: AbortSignal;
    maxReplyBytes: number;
  }): Promise<TransportReply>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

/** Minimal fetch signature, for fetchTransport. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** What happened on the wire, before any interpretation of the reply. */
export type WebhookHttpResult =
  | ({ kind: "response"; latencyMs: number } & TransportReply)
  | { kind: "timeout"; latencyMs: number }
  | {
      kind: "connection-error";
      /** Readable cause, e.g. "connect ECONNREFUSED 127.0.0.1:9". */
      error: string;
      /** System error code when known (ECONNREFUSED, ECONNRESET, ...). */
      code: string | undefined;
      latencyMs: number;
    };

export interface PostWebhookInput {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Hard limit from the start of the call to the last byte of the reply. */
  timeoutMs: number;
  /** Default: a shared keep-alive node:http transport. */
  transport?: HttpTransport;
  now?: MonotonicNow;
  maxReplyBytes?: number;
}

/**
 * The one rule for "did the reply make it": a reply counts only when its last byte
 * arrived within the limit. The timer alone is not enough: a reply can land after
 * the limit but before the (late, loaded) timer fires. Server, replay and record
 * all decide through this function.
 */
export function repliedInTime(latencyMs: number, timeoutMs: number): boolean {
  return latencyMs <= timeoutMs;
}

/** What a proxy in front of the endpoint keeps back for relaying a reply to the server. */
export const DEFAULT_RELAY_MARGIN_MS = 5;

/**
 * The time a proxy between the server and the endpoint (webhook-sim record) may give
 * the endpoint so that its verdict is the server's: the server's limit counted from the
 * request's signing time (the server starts its timer right after signing, so this
 * errs early, never late), less a margin for relaying the reply. A reply the proxy
 * gets after this is withheld: the server times out and the proxy says so.
 */
export function proxyBudgetMs(input: {
  timeoutMs: number;
  signedAtMs: number;
  nowMs: number;
  relayMarginMs: number;
}): number {
  const spent = Math.max(0, input.nowMs - input.signedAtMs);
  return Math.max(0, input.timeoutMs - spent - input.relayMarginMs);
}

// A private reason object so our own timeout is never confused with another abort.
const TIMEOUT = Symbol("webhook-timeout");

/**
 * POSTs one webhook body. Never throws: every failure becomes a result kind.
 * The timeout covers connecting, the response head and reading the body, so a
 * slow endpoint costs the caller at most `timeoutMs` (plus timer jitter).
 */
export async function postWebhook(input: PostWebhookInput): Promise<WebhookHttpResult> {
  const transport = input.transport ?? defaultTransport();
  const now = input.now ?? monotonicNow;
  const controller = new AbortController();
  const started = now();
  const elapsed = (): number => now() - started;
  if (input.timeoutMs <= 0) return { kind: "timeout", latencyMs: 0 };
  const timer = setTimeout(() => controller.abort(TIMEOUT), input.timeoutMs);
  try {
    const reply = await transport.post({
      url: input.url,
      headers: { "content-type": "application/json", ...input.headers },
      body: input.body,
      signal: controller.signal,
      maxReplyBytes: input.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES,
    });
    const latencyMs = elapsed();
    if (!repliedInTime(latencyMs, input.timeoutMs)) return { kind: "timeout", latencyMs };
    return { kind: "response", ...reply, latencyMs };
  } catch (err) {
    const latencyMs = elapsed();
    const timedOut = controller.signal.aborted && controller.signal.reason === TIMEOUT;
    if (timedOut || !repliedInTime(latencyMs, input.timeoutMs)) {
      return { kind: "timeout", latencyMs };
    }
    return { kind: "connection-error", ...describeError(err), latencyMs };
  } finally {
    clearTimeout(timer);
  }
}

let shared: HttpTransport | undefined;
const defaultTransport = (): HttpTransport => {
  shared ??= createNodeHttpTransport();
  return shared;
};

/**
 * node:http(s) with keep-alive. Chosen over fetch: about 4x lower latency per
 * call on loopback and no ~40 ms first-call warm-up, which matters when the
 * whole budget is 2 s and the before-send overhead target is 2 ms.
 */
export function createNodeHttpTransport(): HttpTransport {
  // Idle sockets are dropped before common server keep-alive limits (Node: 5 s), so we rarely
  // write to a socket the server is closing, which would surface as a spurious ECONNRESET.
  const agentOptions = { keepAlive: true, timeout: 4000 };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  return {
    post: ({ url, headers, body, signal, maxReplyBytes }) =>
      new Promise<TransportReply>((resolve, reject) => {
        const secure = url.startsWith("https:");
        const send = secure ? httpsRequest : httpRequest;
        const payload = Buffer.from(body, "utf8");
        const req = send(url, {
          method: "POST",
          agent: secure ? httpsAgent : httpAgent,
          headers: { ...headers, "content-length": String(payload.byteLength) },
        });
        const onAbort = (): void => {
          req.destroy();
          reject(signal.reason);
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener("abort", onAbort, { once: true });
        const done = (): void => signal.removeEventListener("abort", onAbort);
        req.on("error", (err) => {
          done();
          reject(err);
        });
        req.on("response", (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.byteLength;
            if (size > maxReplyBytes) {
              // Stop reading rather than buffering an unbounded reply; the socket is not reused.
              done();
              req.destroy();
              resolve({ status: res.statusCode ?? 0, body: "", oversized: true });
              return;
            }
            chunks.push(chunk);
          });
          res.on("end", () => {
            done();
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString("utf8"),
              oversized: false,
            });
          });
          res.on("error", (err) => {
            done();
            reject(err);
          });
          res.on("aborted", () => {
            done();
            reject(
              Object.assign(new Error("connection closed before the reply ended"), {
                code: "ECONNRESET",
              }),
            );
          });
        });
        req.end(payload);
      }),
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** A transport over a fetch implementation (e.g. to add a proxy dispatcher, or in tests). */
export function fetchTransport(fetchFn: FetchLike): HttpTransport {
  return {
    post: async ({ url, headers, body, signal, maxReplyBytes }) => {
      // A redirect is a misconfigured endpoint; report the 3xx instead of following it.
      const response = await fetchFn(url, {
        method: "POST",
        headers,
        body,
        signal,
        redirect: "manual",
      });
      const text = await response.text();
      const oversized = Buffer.byteLength(text, "utf8") > maxReplyBytes;
      return { status: response.status, body: oversized ? "" : text, oversized };
    },
    close: () => {},
  };
}

// fetch wraps the useful error in `cause`; "localhost" tries ::1 and 127.0.0.1 and reports both
// in an AggregateError whose own message is empty.
function describeError(err: unknown): { error: string; code: string | undefined } {
  const outer = err instanceof Error ? err : new Error(String(err));
  const source = outer.cause instanceof Error ? outer.cause : outer;
  const code = (source as { code?: unknown }).code;
  const nested =
    source instanceof AggregateError
      ? source.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ")
      : "";
  return {
    error: source.message || nested || outer.message,
    code: typeof code === "string" ? code : undefined,
  };
}
