import type { DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  createContextValues,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Authenticate } from "../auth/authenticator.js";
import { callerKey } from "../auth/caller.js";
import type { Logger } from "../log/logger.js";
import type { TransportMeter } from "../metrics/meters.js";
import { createCallGate } from "./call-gate.js";
import { detectProtocol, ENVELOPE_HEADER_BYTES } from "./protocol/detect.js";
import {
  abandonRequestBody,
  type NodeRequest,
  type NodeResponse,
  writeError,
  writeHead,
} from "./protocol/write-error.js";
import { requestBodyTimeout, requestTooLarge } from "./request-errors.js";

export interface NodeHandlerOptions {
  /** The router the services were registered on (see limitedRouter). */
  router: ConnectRouter;
  /** The RPC's request limit; the router gave connect-es the same readMaxBytes. */
  readMaxBytesOf: (method: DescMethod) => number;
  authenticate: Authenticate;
  /** Services callable without a UserSig. */
  publicServices: ReadonlySet<string>;
  /** A request body must have arrived this long after its first byte was asked for. */
  requestBodyTimeoutMs: number;
  /** How long the unwanted rest of a refused HTTP/1.1 body is read and dropped. */
  rejectedBodyLingerMs: number;
  logger: Logger;
  meter: Pick<TransportMeter, "requestRejected">;
}

export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

/**
 * connect-node's adapter with the checks that must come before any body byte
 * is read: the route, the protocol, a declared length over the RPC's limit,
 * and authentication from the headers. Unauthenticated or oversized requests
 * cost their headers only; the caller verified here is handed to the handler
 * (the auth interceptor does not verify again). While connect-es reads the
 * body, it is counted and timed: past the limit or the body timeout the call
 * fails with a reason and the rest is not read.
 */
export function createNodeHandler(options: NodeHandlerOptions): NodeHandler {
  const { logger, meter } = options;
  const linger = { lingerMs: options.rejectedBodyLingerMs };
  const gate = createCallGate(options);
  const { rejected } = gate;
  const routes = new Map<string, UniversalHandler>();
  for (const handler of options.router.handlers) routes.set(handler.requestPath, handler);

  async function handle(req: NodeRequest, res: NodeResponse): Promise<void> {
    const handler = routes.get((req.url ?? "").split("?", 1)[0] ?? "");
    const protocol = detectProtocol(req.method, req.headers["content-type"], req.url);
    if (handler === undefined || protocol === undefined) {
      // As connect-node answers: unknown path 404, unknown content type 415.
      meter.requestRejected(handler === undefined ? "UNKNOWN_ROUTE" : "UNSUPPORTED_MEDIA_TYPE");
      abandonRequestBody(req, res, linger.lingerMs);
      writeHead(res, handler === undefined ? 404 : 415);
      res.end();
      return;
    }
    const limit = options.readMaxBytesOf(handler.method);
    const rawLimit = limit + (protocol.enveloped ? ENVELOPE_HEADER_BYTES : 0);
    const tooLarge = gate.declaredTooLarge(req.headers["content-length"], protocol, limit);
    if (tooLarge !== undefined) {
      writeError(req, res, protocol, tooLarge, linger);
      return;
    }
    let contextValues: ContextValues | undefined;
    if (!options.publicServices.has(handler.service.typeName)) {
      const caller = await gate.caller(req.headers.authorization);
      if (caller instanceof ConnectError) {
        writeError(req, res, protocol, caller, linger);
        return;
      }
      contextValues = createContextValues().set(callerKey, caller);
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
    const body = guardBody(uReq.body as AsyncIterable<Uint8Array>, {
      maxBytes: rawLimit,
      maxEnvelopeBytes: protocol.enveloped ? limit : undefined,
      timeoutMs: options.requestBodyTimeoutMs,
      tooLarge: () => rejected(requestTooLarge(limit, logger)),
      timedOut: () => rejected(requestBodyTimeout(options.requestBodyTimeoutMs, logger)),
      abandon: (drain, lingerMs) => abandonRequestBody(req, res, lingerMs, drain),
      lingerMs: options.rejectedBodyLingerMs,
    });
    const uRes = await handler({ ...uReq, body });
    // connect-node drains an unread HTTP/1.1 body before it answers, without a
    // time limit: a trickling body would hold the answer for ever. The guard has
    // already given up on such a body, so the connection closes instead. Only
    // then are the headers copied: a complete request is answered as is.
    if (!("stream" in res) && !req.complete) {
      const header = new Headers(uRes.header);
      header.set("connection", "close");
      await universalResponseToNodeResponse({ ...uRes, header }, res);
      return;
    }
    await universalResponseToNodeResponse(uRes, res);
  }

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (ConnectError.from(err).code === Code.Aborted) return;
      logger.warn("request handling failed", { err, url: req.url });
      if (!res.headersSent) {
        writeHead(res, 500);
        res.end();
      } else if (!res.writableEnded) {
        res.destroy();
      }
    });
  };
}

interface BodyGuard {
  maxBytes: number;
  /** For enveloped bodies: the most a single message may declare. */
  maxEnvelopeBytes: number | undefined;
  timeoutMs: number;
  tooLarge: () => ConnectError;
  timedOut: () => ConnectError;
  /** Called before failing: the rest of the body is not wanted; `drain` drops it. */
  abandon: (drain: () => void, lingerMs: number) => void;
  lingerMs: number;
}

/**
 * Passes the body through while it stays within `maxBytes` (all envelopes
 * included) and arrives within `timeoutMs` of the first read; otherwise fails
 * the read with the guard's error, which connect-es answers in the call's own
 * protocol.
 */
async function* guardBody(
  body: AsyncIterable<Uint8Array>,
  guard: BodyGuard,
): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), guard.timeoutMs);
  });
  let received = 0;
  const declared =
    guard.maxEnvelopeBytes === undefined ? undefined : envelopeLengths(guard.maxEnvelopeBytes);
  try {
    for (;;) {
      const next = await Promise.race([it.next(), expired]);
      if (next === "expired") {
        // A trickling body is not waited for any longer: cut right after the answer.
        guard.abandon(() => {}, 0);
        throw guard.timedOut();
      }
      if (next.done === true) return;
      received += next.value.byteLength;
      if (received > guard.maxBytes || declared?.(next.value) === false) {
        guard.abandon(() => drainRest(it), guard.lingerMs);
        throw guard.tooLarge();
      }
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Follows the 5-byte envelope headers across chunks; the returned function is
 * false once a header declares a message over `maxBytes`, so a huge envelope is
 * refused on its header, with our reason, before connect-es sees it.
 */
function envelopeLengths(maxBytes: number): (chunk: Uint8Array) => boolean {
  const header = new Uint8Array(5);
  let headerFill = 0;
  let payloadLeft = 0;
  return (chunk) => {
    let at = 0;
    while (at < chunk.byteLength) {
      if (payloadLeft > 0) {
        const take = Math.min(payloadLeft, chunk.byteLength - at);
        payloadLeft -= take;
        at += take;
        continue;
      }
      header[headerFill++] = chunk[at++] ?? 0;
      if (headerFill === 5) {
        headerFill = 0;
        payloadLeft = new DataView(header.buffer).getUint32(1);
        if (payloadLeft > maxBytes) return false;
      }
    }
    return true;
  };
}

/** Reads and drops what is left of a body. */
function drainRest(it: AsyncIterator<Uint8Array>): void {
  const next = (): Promise<void> => it.next().then((r) => (r.done === true ? undefined : next()));
  next().catch(() => {});
}
