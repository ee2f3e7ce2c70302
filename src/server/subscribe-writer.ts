import { randomUUID } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import type { Readable } from "node:stream";
import { fromBinary, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  contentTypeStreamJson,
  contentTypeStreamProto,
  parseContentType as parseConnectContentType,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import {
  contentTypeJson as grpcContentTypeJson,
  contentTypeProto as grpcContentTypeProto,
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
} from "@connectrpc/connect/protocol-grpc";
import {
  contentTypeJson as grpcWebContentTypeJson,
  contentTypeProto as grpcWebContentTypeProto,
  parseContentType as parseGrpcWebContentType,
} from "@connectrpc/connect/protocol-grpc-web";
import type { Authenticate } from "../auth/authenticator.js";
import type { Caller } from "../auth/caller.js";
import { flat } from "../common/flat-string.js";
import { httpDate } from "../common/http-date.js";
import type { DomainError } from "../errors/domain-error.js";
import {
  EventService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "../gen/im/v1/events_pb.js";
import type { LiveEvent, LiveHub, LiveSink, LiveStreamHandle } from "../live/live-hub.js";
import { streamOwner } from "../live/service.js";
import type { Logger } from "../log/logger.js";
import { noMeters, type TransportMeter } from "../metrics/meters.js";
import { type CallGate, createCallGate } from "./call-gate.js";
import { normalizeCodecError } from "./codec-errors.js";
import { toConnectError } from "./error-mapper.js";
import { sanitizeRequestId } from "./interceptors.js";
import type { StreamHandler } from "./listen.js";
import { ENVELOPE_HEADER_BYTES, type WireProtocol } from "./protocol/detect.js";
import {
  type NodeRequest,
  type NodeResponse,
  streamEnd,
  writeError,
  writeStreamError,
} from "./protocol/write-error.js";
import { requestBodyTimeout, requestTooLarge } from "./request-errors.js";

/**
 * A writer the server tries before Connect: each route handles the request (or the
 * HTTP/2 stream, before Node makes compatibility objects for it) and returns true,
 * or returns false to leave it to Connect.
 */
export interface RawRoutes {
  request: (req: NodeRequest, res: NodeResponse) => boolean;
  stream: StreamHandler;
}

export interface SubscribeWriterDeps {
  hub: Pick<LiveHub, "open" | "resume" | "close">;
  authenticate: Authenticate;
  logger: Logger;
  /** Aborted at shutdown: streams end cleanly (OK). */
  shutdown: AbortSignal;
  /** Largest SubscribeRequest message accepted (its envelope header comes on top). */
  maxRequestBytes: number;
  /** How long the unwanted rest of a refused HTTP/1.1 body is read and dropped. */
  rejectedBodyLingerMs: number;
  /** How long the request body may take to arrive once the call is authenticated. */
  requestBodyTimeoutMs: number;
  meter?: TransportMeter;

  /** Admission of an authenticated caller before the stream opens (the login rate limit). */
  admit?: (caller: Caller) => Promise<void>;
}

/** The longest delay setTimeout takes (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const PATH = `/${EventService.typeName}/${EventService.method.subscribe.name}`;
const RPC = PATH.slice(1);
const encoder = new TextEncoder();
/** respond() takes raw header arrays from Node 24.7 (nodejs/node#59455); before, an object. */
const RAW_RESPOND = (() => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  return major > 24 || (major === 24 && minor >= 7);
})();

// The protocols the writer serves, one shared object each (a stream keeps a reference only).
const GRPC: readonly WireProtocol[] = [true, false].map((binary) => ({
  kind: "grpc",
  binary,
  enveloped: true,
}));
const GRPC_WEB: readonly WireProtocol[] = [true, false].map((binary) => ({
  kind: "grpc-web",
  binary,
  text: false,
  enveloped: true,
}));
const CONNECT: readonly WireProtocol[] = [true, false].map((binary) => ({
  kind: "connect-stream",
  binary,
  enveloped: true,
}));
const pick = (all: readonly WireProtocol[], binary: boolean) => all[binary ? 0 : 1];

const contentTypeOf = (p: WireProtocol): string => {
  switch (p.kind) {
    case "grpc":
      return p.binary ? grpcContentTypeProto : grpcContentTypeJson;
    case "grpc-web":
      return p.binary ? grpcWebContentTypeProto : grpcWebContentTypeJson;
    default:
      return p.binary ? contentTypeStreamProto : contentTypeStreamJson;
  }
};
const nameOf = (p: WireProtocol) => (p.kind === "connect-stream" ? "connect" : p.kind);

/** What every stream of the writer shares. */
interface WriterContext {
  deps: SubscribeWriterDeps;
  gate: CallGate;
  meter: TransportMeter;
  /** Streams not yet ended by the writer: shutdown ends them. */
  calls: Set<LiveCall>;
}

/**
 * EventService.Subscribe on all three protocols, written by us: each live event
 * is framed once per codec (the bytes cached on the event) and the same bytes
 * are written to every stream; queued events go out in one write. HTTP/2
 * streams are served on Node's bare stream (no compatibility objects); an
 * open stream is one LiveCall driven by the hub, with no task, closure,
 * timer or logger of its own. Requests it does not take (compressed, gRPC
 * over HTTP/1.1, unknown content types) fall through to the Connect
 * implementation of the same RPC, which answers them.
 */
export function createSubscribeWriter(deps: SubscribeWriterDeps): RawRoutes {
  const meter = deps.meter ?? noMeters;
  const ctx: WriterContext = {
    deps,
    gate: createCallGate({ authenticate: deps.authenticate, logger: deps.logger, meter }),
    meter,
    calls: new Set(),
  };
  deps.shutdown.addEventListener("abort", () => {
    for (const call of [...ctx.calls]) call.shutDown();
  });
  return {
    stream(stream, headers) {
      if (headers[":method"] !== "POST" || pathOf(headers[":path"]) !== PATH) return false;
      const protocol = protocolOf(headers, true);
      if (protocol === undefined) return false;
      const call = new LiveCall(ctx, protocol, requestIdOf(headers), stream, undefined, undefined);
      (stream as Carrier)[kCall] = call;
      stream.on("close", onTransportClose);
      // A reset by the client is an error event; the close that follows ends the call.
      stream.on("error", ignore);
      start(ctx, call, headers, stream);
      return true;
    },
    request(req, res) {
      // HTTP/2 streams went through the stream route (and were left to Connect there).
      if (req.httpVersionMajor === 2) return false;
      if (req.method !== "POST" || pathOf(req.url) !== PATH) return false;
      const protocol = protocolOf(req.headers, false);
      if (protocol === undefined) return false;
      const h1req = req as http.IncomingMessage;
      const h1res = res as http.ServerResponse;
      const call = new LiveCall(ctx, protocol, requestIdOf(req.headers), undefined, h1req, h1res);
      (h1res as Carrier)[kCall] = call;
      h1res.on("close", onTransportClose);
      start(ctx, call, req.headers, h1req);
      return true;
    },
  };
}

function start(
  ctx: WriterContext,
  call: LiveCall,
  headers: http.IncomingHttpHeaders,
  body: Readable,
): void {
  ctx.calls.add(call);
  open(ctx, call, headers, body).catch((err: unknown) => {
    // Only a failure to write the end of the stream gets here: the connection is unusable.
    ctx.deps.logger.warn("live stream: could not end the response", { err });
    call.destroy();
  });
}

/** Checks the call, reads its request and hands the stream to the hub. */
async function open(
  ctx: WriterContext,
  call: LiveCall,
  headers: http.IncomingHttpHeaders,
  body: Readable,
): Promise<void> {
  const { deps, gate } = ctx;
  try {
    const timeout =
      call.protocol.kind === "connect-stream"
        ? parseConnectTimeout(header(headers, "connect-timeout-ms"), Number.MAX_SAFE_INTEGER)
        : parseGrpcTimeout(header(headers, "grpc-timeout"), Number.MAX_SAFE_INTEGER);
    if (timeout.error !== undefined) throw timeout.error;
    // A deadline past the longest timer (~24.8 days) is none: Node would fire it in 1 ms.
    if (timeout.timeoutMs !== undefined && timeout.timeoutMs <= MAX_TIMER_MS) {
      call.deadline = setTimeout(onDeadline, timeout.timeoutMs, call);
    }
    const declared = gate.declaredTooLarge(
      header(headers, "content-length") ?? undefined,
      call.protocol,
      deps.maxRequestBytes,
    );
    if (declared !== undefined) throw declared;
    // Authentication from the headers, before the body is read.
    const caller = await gate.caller(header(headers, "authorization") ?? undefined);
    if (caller instanceof ConnectError) throw caller;
    await deps.admit?.(caller);
    // Gone or past its deadline meanwhile: a closed body would never end, only time out.
    if (call.finished) return;
    const maxBytes = deps.maxRequestBytes + ENVELOPE_HEADER_BYTES;
    // Refused as the node handler refuses other RPCs' bodies, and counted alike.
    const request = decodeRequest(
      await readBody(body, maxBytes, deps.requestBodyTimeoutMs, call, {
        tooLarge: () => gate.rejected(requestTooLarge(deps.maxRequestBytes, deps.logger)),
        timedOut: () => gate.rejected(requestBodyTimeout(deps.requestBodyTimeoutMs, deps.logger)),
      }),
      call.protocol.binary,
    );
    call.bodyRead = true;
    const owner = streamOwner(caller, request.deviceId, request.platform);
    if (call.finished) return;
    const handle = await deps.hub.open(owner, call);
    if (call.finished) {
      // Gone, past its deadline or shut down while opening.
      deps.hub.close(handle);
      return;
    }
    call.handle = handle;
    if (call.resumeWhenOpen) deps.hub.resume(handle);
    // A stream arriving while shutdown is under way gets Ready, then its clean end.
    if (deps.shutdown.aborted) call.shutDown();
  } catch (err) {
    call.fail(err);
  }
}

const kCall = Symbol("liveCall");
type Carrier = { [kCall]?: LiveCall };

// Listeners shared by every stream (`this` is the stream or response): no closure per stream.
function onTransportClose(this: Carrier) {
  this[kCall]?.gone();
}
function onTransportDrain(this: Carrier) {
  this[kCall]?.drained();
}
function onDeadline(call: LiveCall) {
  call.timedOut = true;
  call.fail(undefined);
}
const ignore = () => {};

/**
 * One Subscribe call: the sink the hub writes its stream's events to, over a
 * bare HTTP/2 stream or an HTTP/1.1 response.
 */
class LiveCall implements LiveSink, BodyRead {
  handle: LiveStreamHandle | undefined = undefined;
  cancelRead: (() => void) | undefined = undefined;
  deadline: NodeJS.Timeout | undefined = undefined;
  timedOut = false;
  bodyRead = false;
  /** The writer has ended the call (or its transport is gone): nothing more is written. */
  finished = false;
  /** The transport drained before the hub's handle arrived. */
  resumeWhenOpen = false;
  readonly startedMs = performance.now();

  constructor(
    readonly ctx: WriterContext,
    readonly protocol: WireProtocol,
    readonly requestId: string,
    readonly h2: http2.ServerHttp2Stream | undefined,
    readonly req: http.IncomingMessage | undefined,
    readonly res: http.ServerResponse | undefined,
  ) {}

  write(events: readonly LiveEvent[]): boolean {
    if (this.finished) return true;
    const bytes = batchBytes(events, this.protocol.binary);
    let ok: boolean;
    if (this.h2 !== undefined) {
      if (this.h2.destroyed) return true;
      if (!this.h2.headersSent) this.respond();
      ok = this.h2.write(bytes);
      if (!ok) this.h2.once("drain", onTransportDrain);
    } else if (this.res !== undefined) {
      if (!this.res.headersSent) this.respond();
      ok = this.res.write(bytes);
      if (!ok) this.res.once("drain", onTransportDrain);
    } else {
      return true;
    }
    this.ctx.meter.liveEventsWritten(events.length);
    return ok;
  }

  /** The hub ended the stream. */
  end(error: DomainError): void {
    this.handle = undefined;
    this.fail(error);
  }

  drained(): void {
    if (this.handle !== undefined) this.ctx.deps.hub.resume(this.handle);
    else this.resumeWhenOpen = true;
  }

  /** Ends the call with `err` (undefined after the deadline), in the protocol's error form. */
  fail(err: unknown): void {
    if (this.finished) return;
    const { logger } = this.ctx.deps;
    // Every error goes out with its ErrorDetail reason, as the Connect path's do.
    const error = normalizeCodecError(
      this.timedOut
        ? new ConnectError("the operation timed out", Code.DeadlineExceeded)
        : toConnectError(err, logger),
    );
    this.release();
    this.finish(error);
  }

  /** Shutdown: a clean end. */
  shutDown(): void {
    if (this.finished) return;
    this.release();
    this.finish(undefined);
  }

  /** The client left (or the response is over). */
  gone(): void {
    // Also after an error was written mid-body: the read ends with the transport.
    this.cancelRead?.();
    if (this.finished) return;
    this.release();
    this.finished = true;
    this.log(undefined);
  }

  destroy(): void {
    this.h2?.destroy();
    this.res?.destroy();
  }

  /** The hub and the writer forget the call. */
  private release(): void {
    clearTimeout(this.deadline);
    this.ctx.calls.delete(this);
    if (this.handle !== undefined) this.ctx.deps.hub.close(this.handle);
    this.handle = undefined;
  }

  private respond(): void {
    const contentType = contentTypeOf(this.protocol);
    if (this.h2 !== undefined && !RAW_RESPOND) {
      this.h2.respond(
        { ":status": 200, "content-type": contentType, "x-request-id": this.requestId },
        { waitForTrailers: this.protocol.kind === "grpc" },
      );
    } else if (this.h2 !== undefined) {
      // Raw header pairs: Node keeps what respond() got for the stream's life, and a
      // headers object is a ~250 B dictionary there. `date` is in it already: Node
      // would push its own, growing the array's store from 8 slots to 25.
      this.h2.respond(
        [
          ":status",
          "200",
          "content-type",
          contentType,
          "x-request-id",
          this.requestId,
          "date",
          httpDate(),
        ],
        { waitForTrailers: this.protocol.kind === "grpc" },
      );
    } else {
      this.res?.writeHead(200, { "content-type": contentType, "x-request-id": this.requestId });
    }
  }

  /** Ends the response the way the protocol ends a stream: OK, or the error with its details. */
  private finish(error: ConnectError | undefined): void {
    this.finished = true;
    this.log(error);
    const { h2, res, req } = this;
    if (h2 !== undefined) {
      if (h2.destroyed || h2.closed) return;
      if (!h2.headersSent) {
        if (error !== undefined) {
          writeStreamError(h2, this.protocol, error, {
            bodyRead: this.bodyRead,
            headers: { "x-request-id": this.requestId },
          });
          return;
        }
        this.respond();
      }
      const end = streamEnd(this.protocol, error);
      if ("trailers" in end) {
        h2.once("wantTrailers", () => h2.sendTrailers(end.trailers));
        h2.end();
      } else {
        h2.end(end.frame);
      }
      return;
    }
    if (res === undefined || req === undefined || res.writableEnded || res.destroyed) return;
    if (!res.headersSent) {
      if (error !== undefined) {
        res.setHeader("x-request-id", this.requestId);
        writeError(req, res, this.protocol, error, {
          lingerMs: this.ctx.deps.rejectedBodyLingerMs,
        });
        return;
      }
      this.respond();
    }
    const end = streamEnd(this.protocol, error);
    // gRPC (trailers) is never served over HTTP/1.1.
    res.end("frame" in end ? end.frame : undefined);
  }

  private log(error: ConnectError | undefined): void {
    const fields = {
      requestId: this.requestId,
      rpc: RPC,
      protocol: nameOf(this.protocol),
      ms: Math.round(performance.now() - this.startedMs),
      writer: "live",
    };
    if (error === undefined) this.ctx.deps.logger.debug("rpc ok", fields);
    else this.ctx.deps.logger.info("rpc failed", { ...fields, code: error.code });
  }
}

function protocolOf(headers: http.IncomingHttpHeaders, h2: boolean): WireProtocol | undefined {
  const ct = header(headers, "content-type");
  const identity = (name: string) => {
    const v = header(headers, name);
    return v === null || v === "identity";
  };
  const grpc = parseGrpcContentType(ct);
  if (grpc !== undefined) {
    // gRPC needs HTTP/2 trailers; Connect answers gRPC over HTTP/1.1 with its error.
    if (!h2 || !identity("grpc-encoding")) return undefined;
    return pick(GRPC, grpc.binary);
  }
  const web = parseGrpcWebContentType(ct);
  if (web !== undefined) {
    if (web.text || !identity("grpc-encoding")) return undefined;
    return pick(GRPC_WEB, web.binary);
  }
  const connect = parseConnectContentType(ct);
  if (connect?.stream && identity("connect-content-encoding")) {
    return pick(CONNECT, connect.binary);
  }
  return undefined;
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

/** A body being read: `cancelRead` is set meanwhile, and called when its transport closes. */
interface BodyRead {
  cancelRead: (() => void) | undefined;
}

/**
 * The request body, refused past `maxBytes` (with `tooLarge()`) while it is
 * read, or when it has not all arrived within `timeoutMs` (with `timedOut()`).
 * A close of the transport is told through `read.cancelRead` (the call hears
 * of it already): a 'close' listener of its own would grow the stream's
 * listener array past two slots for the stream's whole life.
 */
function readBody(
  body: Readable,
  maxBytes: number,
  timeoutMs: number,
  read: BodyRead,
  refuse: { tooLarge: () => Error; timedOut: () => Error },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      done();
      body.pause();
      reject(refuse.timedOut());
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      body.off("data", onData);
      body.off("end", onEnd);
      read.cancelRead = undefined;
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        done();
        body.pause();
        reject(refuse.tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    read.cancelRead = () => {
      done();
      reject(new ConnectError("the client closed the stream", Code.Canceled));
    };
    body.on("data", onData);
    body.on("end", onEnd);
  });
}

/** The one enveloped SubscribeRequest of the body. */
function decodeRequest(body: Buffer, binary: boolean) {
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
    return binary
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

// Kept by the call for its whole life: flat, not randomUUID's rope.
const requestIdOf = (headers: http.IncomingHttpHeaders) =>
  sanitizeRequestId(header(headers, "x-request-id")) ?? flat(randomUUID());

function header(headers: http.IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}
