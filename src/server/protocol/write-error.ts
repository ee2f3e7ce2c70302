import type http from "node:http";
import http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  createEndStreamSerialization,
  endStreamFlag,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { WireProtocol } from "./detect.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Both response kinds have writeHead, with overloads TypeScript cannot unite; pick one. */
export const writeHead = (
  res: NodeResponse,
  status: number,
  headers?: http.OutgoingHttpHeaders,
): void => {
  (res as http.ServerResponse).writeHead(status, headers);
};

const endStream = createEndStreamSerialization(undefined);

/**
 * Answers a call with `error` in its own protocol's shape, as connect-es's
 * handlers would, without reading the request body: Connect unary JSON error
 * with its HTTP status; Connect streaming end-stream message; gRPC
 * trailers-only (grpc-status, grpc-message, grpc-status-details-bin); gRPC-Web
 * trailer frame. The unread body is then discarded by closing the stream (h2)
 * or the connection (HTTP/1.1), so it costs nothing more.
 */
export function writeError(
  req: NodeRequest,
  res: NodeResponse,
  protocol: WireProtocol,
  error: ConnectError,
  options: { lingerMs: number },
): void {
  if (res.headersSent || res.writableEnded) return;
  if (protocol.kind === "grpc" && res instanceof http2.Http2ServerResponse) {
    writeStreamError(res.stream, protocol, error, { bodyRead: req.complete });
    return;
  }
  const { status, contentType, body } = errorResponse(protocol, error);
  abandonRequestBody(req, res, options.lingerMs);
  writeHead(res, status, { "content-type": contentType, "content-length": body.byteLength });
  res.end(body);
}

/**
 * `writeError` on a bare HTTP/2 stream (no compatibility request/response).
 * `bodyRead`: the request body was read to its end; if not, the stream is
 * reset with NO_ERROR once the answer is out, so the rest costs nothing.
 * `headers` go out with the answer (e.g. x-request-id).
 */
export function writeStreamError(
  stream: http2.ServerHttp2Stream,
  protocol: WireProtocol,
  error: ConnectError,
  options: { bodyRead: boolean; headers?: Record<string, string> },
): void {
  if (stream.headersSent || stream.destroyed) return;
  if (protocol.kind === "grpc") {
    // Trailers-only: the status travels in the headers.
    stream.respond(
      {
        ":status": 200,
        "content-type": protocol.binary ? "application/grpc+proto" : "application/grpc+json",
        ...options.headers,
        ...trailerRecord(error),
      },
      { endStream: true },
    );
  } else {
    const { status, contentType, body } = errorResponse(protocol, error);
    stream.respond({
      ":status": status,
      "content-type": contentType,
      "content-length": body.byteLength,
      ...options.headers,
    });
    stream.end(body);
  }
  // Node resets with NO_ERROR only after the stream's own end is flushed.
  if (!options.bodyRead) closeStream(stream);
}

/**
 * How a stream whose headers are out ends, OK (`error` undefined) or with the
 * error: gRPC in trailers, gRPC-Web in its trailer frame, Connect in its
 * end-stream message. gRPC over HTTP/1.1 is not served.
 */
export function streamEnd(
  protocol: WireProtocol,
  error: ConnectError | undefined,
): { trailers: Record<string, string> } | { frame: Uint8Array } {
  switch (protocol.kind) {
    case "grpc":
      return { trailers: trailerRecord(error) };
    case "grpc-web":
      return { frame: grpcWebTrailerFrame(error) };
    default:
      return { frame: connectEndFrame(error) };
  }
}

/** gRPC-Web's trailer frame carrying the status. */
const grpcWebTrailerFrame = (error: ConnectError | undefined): Uint8Array =>
  encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error)));

/** Connect streaming's end-stream message carrying the status. */
const connectEndFrame = (error: ConnectError | undefined): Uint8Array =>
  encodeEnvelope(endStreamFlag, endStream.serialize({ metadata: new Headers(), error }));

/** gRPC's status trailers (grpc-status, grpc-message, grpc-status-details-bin). */
function trailerRecord(error: ConnectError | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  setTrailerStatus(new Headers(), error).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function errorResponse(
  protocol: WireProtocol,
  error: ConnectError,
): { status: number; contentType: string; body: Uint8Array } {
  const suffix = protocol.binary ? "proto" : "json";
  switch (protocol.kind) {
    case "connect-unary":
      return {
        status: codeToHttpStatus(error.code),
        contentType: "application/json",
        body: errorToJsonBytes(error, undefined),
      };
    case "connect-stream":
      return {
        status: 200,
        contentType: `application/connect+${suffix}`,
        body: connectEndFrame(error),
      };
    case "grpc":
    case "grpc-web":
      // gRPC over HTTP/1.1 cannot carry trailers: gRPC-Web's trailer frame is the closest.
      return {
        status: 200,
        contentType: `application/grpc-web+${suffix}`,
        body: grpcWebTrailerFrame(error),
      };
  }
}

/**
 * The rest of this request's body is not wanted. HTTP/2: once the answer is
 * out, the stream is reset with NO_ERROR ("stop sending", RFC 9113 8.1).
 * HTTP/1.1: after the answer the rest is read and dropped (`drain`) for at most
 * `lingerMs`, then the connection is cut: closing a socket with unread data
 * would reset it and could destroy the answer before the client reads it.
 */
export function abandonRequestBody(
  req: NodeRequest,
  res: NodeResponse,
  lingerMs: number,
  drain: () => void = () => req.resume(),
): void {
  if (req.complete) return;
  if (res instanceof http2.Http2ServerResponse) {
    // Node's compat response always ends with a trailers frame (empty or not),
    // sent from its own "wantTrailers" listener: reset only after it. "finish"
    // covers a response that got past that point before we were called.
    const close = () => setImmediate(() => closeStream(res.stream));
    res.stream.once("wantTrailers", close);
    res.once("finish", close);
    if (res.writableFinished) close();
    return;
  }
  res.once("finish", () => {
    if (req.complete) return;
    const timer = setTimeout(() => req.socket.destroy(), lingerMs);
    req.once("end", () => clearTimeout(timer));
    req.once("close", () => clearTimeout(timer));
    drain();
  });
}

function closeStream(stream: http2.ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}
