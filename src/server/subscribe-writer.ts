import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import type http from "node:http";
import type http2 from "node:http2";
import { fromBinary, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  contentTypeStreamJson,
  contentTypeStreamProto,
  endStreamFlag,
  endStreamToJson,
  parseContentType as parseConnectContentType,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import {
  contentTypeJson as grpcContentTypeJson,
  contentTypeProto as grpcContentTypeProto,
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import {
  contentTypeJson as grpcWebContentTypeJson,
  contentTypeProto as grpcWebContentTypeProto,
  parseContentType as parseGrpcWebContentType,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import type { Authenticate } from "../auth/authenticator.js";
import type { Caller } from "../auth/caller.js";
import {
  EventService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "../gen/im/v1/events_pb.js";
import type { LiveEvent, LiveHub } from "../live/live-hub.js";
import { streamOwner } from "../live/service.js";
import type { Logger } from "../log/logger.js";
import { noMeters, type TransportMeter } from "../metrics/meters.js";
import { normalizeCodecError } from "./codec-errors.js";
import { toConnectError } from "./error-mapper.js";
import { bearerSig, sanitizeRequestId } from "./interceptors.js";
import { writeHead } from "./protocol/write-error.js";
import { requestTooLarge } from "./request-errors.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Handles the request itself and returns true, or returns false to leave it to Connect. */
export type RawRoute = (req: Request, res: Response) => boolean;

export interface SubscribeWriterDeps {
  hub: Pick<LiveHub, "batches">;
  authenticate: Authenticate;
  logger: Logger;
  /** Aborted at shutdown: streams end cleanly (OK). */
  shutdown: AbortSignal;
  /** Largest SubscribeRequest body accepted, enveloped. */
  maxRequestBytes: number;
  meter?: TransportMeter;

  /** Admission of an authenticated caller before the stream opens (the login rate limit). */
  admit?: (caller: Caller) => Promise<void>;
}

type Protocol = "grpc" | "grpc-web" | "connect";

interface Wire {
  protocol: Protocol;
  binary: boolean;
  /** Headers of the response: its content type and the request id. */
  headers: Record<string, string>;
}

const PATH = `/${EventService.typeName}/${EventService.method.subscribe.name}`;
const encoder = new TextEncoder();

/**
 * EventService.Subscribe on all three protocols, written by us: each live event
 * is framed once per codec (the bytes cached on the event) and the same bytes
 * are written to every stream; queued events go out in one write. Requests it
 * does not take (compressed, gRPC over HTTP/1.1, unknown content types) fall
 * through to the Connect implementation of the same RPC, which answers them.
 */
export function createSubscribeWriter(deps: SubscribeWriterDeps): RawRoute {
  // Every open stream listens for shutdown: thousands of listeners are expected.
  setMaxListeners(0, deps.shutdown);
  return (req, res) => {
    if (req.method !== "POST" || pathOf(req) !== PATH) return false;
    const wire = wireOf(req);
    if (wire === undefined) return false;
    serve(deps, wire, req, res).catch((err: unknown) => {
      // Only a failure to write the end of the stream gets here: the connection is unusable.
      deps.logger.warn("live stream: could not end the response", { err });
      res.destroy();
    });
    return true;
  };
}

function wireOf(req: Request): Wire | undefined {
  const ct = header(req, "content-type") ?? null;
  const identity = (name: string) => {
    const v = header(req, name);
    return v === undefined || v === "identity";
  };
  const grpc = parseGrpcContentType(ct);
  if (grpc !== undefined) {
    // gRPC needs HTTP/2 trailers; Connect answers gRPC over HTTP/1.1 with its error.
    if (req.httpVersionMajor !== 2 || !identity("grpc-encoding")) return undefined;
    const binary = grpc.binary;
    return {
      protocol: "grpc",
      binary,
      headers: { "content-type": binary ? grpcContentTypeProto : grpcContentTypeJson },
    };
  }
  const web = parseGrpcWebContentType(ct);
  if (web !== undefined) {
    if (web.text || !identity("grpc-encoding")) return undefined;
    const binary = web.binary;
    return {
      protocol: "grpc-web",
      binary,
      headers: { "content-type": binary ? grpcWebContentTypeProto : grpcWebContentTypeJson },
    };
  }
  const connect = parseConnectContentType(ct);
  if (connect?.stream && identity("connect-content-encoding")) {
    const binary = connect.binary;
    return {
      protocol: "connect",
      binary,
      headers: { "content-type": binary ? contentTypeStreamProto : contentTypeStreamJson },
    };
  }
  return undefined;
}

async function serve(deps: SubscribeWriterDeps, wire: Wire, req: Request, res: Response) {
  // As the request-log interceptor does for Connect calls: a request id, one line per call.
  const requestId = sanitizeRequestId(header(req, "x-request-id") ?? null) ?? randomUUID();
  wire.headers["x-request-id"] = requestId;
  const logger = deps.logger.child({ requestId, rpc: PATH.slice(1), protocol: wire.protocol });
  const meter = deps.meter ?? noMeters;
  const started = performance.now();
  const abort = new AbortController();
  let closed = false;
  const gone = () => {
    closed = true;
    abort.abort();
  };
  res.once("close", gone);
  const onShutdown = () => abort.abort();
  deps.shutdown.addEventListener("abort", onShutdown);
  // A stream arriving on a connection while shutdown is under way ends at once, cleanly.
  if (deps.shutdown.aborted) abort.abort();
  let deadline: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    const timeout =
      wire.protocol === "connect"
        ? parseConnectTimeout(header(req, "connect-timeout-ms") ?? null, Number.MAX_SAFE_INTEGER)
        : parseGrpcTimeout(header(req, "grpc-timeout") ?? null, Number.MAX_SAFE_INTEGER);
    if (timeout.error !== undefined) throw timeout.error;
    if (timeout.timeoutMs !== undefined) {
      deadline = setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, timeout.timeoutMs);
    }
    // Authentication from the headers, before the body is read.
    const sig = bearerSig(header(req, "authorization"));
    const caller = await deps.authenticate(sig);
    await deps.admit?.(caller);
    const request = await readRequest(req, wire, deps.maxRequestBytes, logger);
    const owner = streamOwner(caller, request.deviceId, request.platform);
    const stream = deps.hub.batches(owner, abort.signal);
    for await (const batch of stream) {
      if (!res.headersSent) writeHead(res, 200, wire.headers);
      if (!write(res, batchBytes(batch, wire.binary))) await drained(res, abort.signal);
      meter.liveEventsWritten(batch.length);
      if (abort.signal.aborted) break;
    }
    if (timedOut) throw new ConnectError("the operation timed out", Code.DeadlineExceeded);
    logger.debug("rpc ok", { ms: Math.round(performance.now() - started), writer: "live" });
    if (!closed) finish(res, wire, undefined);
  } catch (err) {
    // Every error goes out with its ErrorDetail reason, as the Connect path's do.
    const error = normalizeCodecError(
      timedOut
        ? new ConnectError("the operation timed out", Code.DeadlineExceeded)
        : toConnectError(err, logger),
    );
    const ms = Math.round(performance.now() - started);
    logger.info("rpc failed", { ms, code: error.code, writer: "live" });
    if (!closed) finish(res, wire, error);
  } finally {
    clearTimeout(deadline);
    res.off("close", gone);
    deps.shutdown.removeEventListener("abort", onShutdown);
  }
}

/** The batch as one buffer of frames; each event's frame is made once and cached on it. */
function batchBytes(batch: readonly LiveEvent[], binary: boolean): Uint8Array {
  if (batch.length === 1 && batch[0] !== undefined) return frameOf(batch[0], binary);
  return Buffer.concat(batch.map((e) => frameOf(e, binary)));
}

// The three protocols frame a message alike (flags 0, 4-byte length): one
// frame per codec serves them all.
function frameOf(event: LiveEvent, binary: boolean): Uint8Array {
  const key = binary ? "proto" : "json";
  let frame = event.framed.get(key);
  if (frame === undefined) {
    const data = binary
      ? event.binary
      : encoder.encode(toJsonString(SubscribeResponseSchema, event.message));
    frame = encodeEnvelope(0, data);
    event.framed.set(key, frame);
  }
  return frame;
}

/** Ends the response the way the protocol ends a stream: OK, or the error with its details. */
function finish(res: Response, wire: Wire, error: ConnectError | undefined) {
  switch (wire.protocol) {
    case "grpc": {
      const trailer = headersToObject(setTrailerStatus(new Headers(), error));
      if (!res.headersSent) {
        // Trailers-only: the status travels in the headers.
        writeHead(res, 200, { ...wire.headers, ...trailer });
      } else {
        res.addTrailers(trailer);
      }
      res.end();
      return;
    }
    case "grpc-web": {
      if (!res.headersSent) writeHead(res, 200, wire.headers);
      const trailer = trailerSerialize(setTrailerStatus(new Headers(), error));
      res.end(encodeEnvelope(trailerFlag, trailer));
      return;
    }
    case "connect": {
      if (!res.headersSent) writeHead(res, 200, wire.headers);
      const json = JSON.stringify(endStreamToJson(new Headers(), error, undefined));
      res.end(encodeEnvelope(endStreamFlag, encoder.encode(json)));
      return;
    }
  }
}

/** Reads the one enveloped SubscribeRequest, refusing more than `maxBytes`. */
async function readRequest(req: Request, wire: Wire, maxBytes: number, logger: Logger) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw requestTooLarge(maxBytes, logger);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const flags = body[0];
  const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
  if (flags !== 0 || length !== body.length - 5) {
    throw new ConnectError(
      "protocol error: expected one uncompressed request message",
      Code.InvalidArgument,
    );
  }
  const data = body.subarray(5);
  try {
    return wire.binary
      ? fromBinary(SubscribeRequestSchema, data)
      : fromJsonString(SubscribeRequestSchema, data.toString("utf8"));
  } catch (err) {
    // Clipped with every other error message by normalizeCodecError.
    throw new ConnectError(
      `parse SubscribeRequest: ${(err as Error).message}`,
      Code.InvalidArgument,
    );
  }
}

// The union of the two response types has no callable write(); both take bytes.
const write = (res: Response, bytes: Uint8Array): boolean =>
  (res as http.ServerResponse).write(bytes);

/** Resolves when the connection takes more, or the stream is aborted. */
function drained(res: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.once("drain", done);
    signal.addEventListener("abort", done);
  });
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(req: Request): string | undefined {
  const url = req.url;
  if (url === undefined) return undefined;
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

function headersToObject(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}
