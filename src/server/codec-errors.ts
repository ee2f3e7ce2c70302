import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  endStreamFlag,
  endStreamFromJson,
  endStreamToJson,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { ErrorDetailSchema, ErrorReason } from "../gen/im/v1/errors_pb.js";
import { clip, FIELD_MAX_CHARS } from "./error-mapper.js";
import { locateDecodeError, locateJsonError } from "./locate-decode-error.js";

/** Largest request (after decompression) kept to locate a decode error in. */
const MAX_LOCATE_BYTES = 1024 * 1024;
/** Errors are small; a compressed error frame larger than this is left alone. */
const MAX_ERROR_FRAME_BYTES = 64 * 1024;

/**
 * Wraps every handler of the router so that errors raised by connect-es itself
 * — while decompressing and parsing the request, before any interceptor runs —
 * reach the client like our own: a client's undecodable request (truncated,
 * invalid UTF-8, too deeply nested, out-of-range number, unknown JSON key or
 * enum name) is InvalidArgument MALFORMED_REQUEST with the field named where
 * the decoder names one (connect-es answers Internal for binary parse errors),
 * every error carries an ErrorDetail, and no error quotes more than a short
 * prefix of client input. Mutates `handlers` in place (the router's list).
 */
export function withCodecErrors(handlers: UniversalHandler[]): void {
  handlers.forEach((handler, i) => {
    const wrapped = async (req: UniversalServerRequest) => {
      const protocol = protocolOf(req.header.get("content-type") ?? "");
      const captured = captureBody(req);
      const locate = () => {
        const bytes = requestMessage(captured.chunks(), protocol, req.header);
        if (bytes === undefined) return "";
        return /json/i.test(req.header.get("content-type") ?? "")
          ? locateJsonError(handler.method.input, new TextDecoder().decode(bytes))
          : locateDecodeError(handler.method.input, bytes);
      };
      const res = await handler(captured.req);
      return rewriteErrors(res, protocol, (err) => normalizeCodecError(err, locate));
    };
    handlers[i] = Object.assign(wrapped, {
      protocolNames: handler.protocolNames,
      service: handler.service,
      method: handler.method,
      requestPath: handler.requestPath,
      allowedMethods: handler.allowedMethods,
      supportedContentType: handler.supportedContentType,
    });
  });
}

/**
 * The one mapping of a transport-level error to what the client sees. An error
 * that already carries an ErrorDetail (ours) is only shortened.
 */
export function normalizeCodecError(err: ConnectError, locate?: () => string): ConnectError {
  const message = clip(err.rawMessage);
  if (err.findDetails(ErrorDetailSchema).length > 0) {
    if (message === err.rawMessage) return err;
    const shortened = new ConnectError(message, err.code, err.metadata);
    shortened.details.push(...err.details);
    return shortened;
  }
  const { code, reason } = classify(err);
  // The located path ("profile.gender") beats the decoder's bare field name.
  const located = reason === ErrorReason.MALFORMED_REQUEST ? (locate?.() ?? "") : "";
  const field = clip(located === "" ? fieldOf(err.rawMessage) : located, FIELD_MAX_CHARS);
  const text =
    reason === ErrorReason.INTERNAL
      ? "internal error"
      : reason === ErrorReason.MALFORMED_REQUEST
        ? `the request could not be decoded: ${message.replace(/^parse binary: /, "")}`
        : message;
  return new ConnectError(clip(text), code, err.metadata, [
    { desc: ErrorDetailSchema, value: create(ErrorDetailSchema, { reason, field }) },
  ]);
}

/**
 * connect-es's texts for a request body it could not decode (binary parse
 * errors; a compressed body that does not inflate, or is flagged compressed
 * without an encoding), which it answers Internal.
 */
const CLIENT_FAULTS_REPORTED_AS_INTERNAL =
  /^(parse binary: |decompression failed$|received compressed envelope, but do not know how to decompress$)/;

function classify(err: ConnectError): { code: Code; reason: ErrorReason } {
  switch (err.code) {
    case Code.Internal:
      // connect-es reports these client mistakes as Internal.
      return CLIENT_FAULTS_REPORTED_AS_INTERNAL.test(err.rawMessage)
        ? { code: Code.InvalidArgument, reason: ErrorReason.MALFORMED_REQUEST }
        : { code: Code.Internal, reason: ErrorReason.INTERNAL };
    case Code.InvalidArgument:
      return { code: err.code, reason: ErrorReason.MALFORMED_REQUEST };
    case Code.ResourceExhausted:
      return { code: err.code, reason: ErrorReason.REQUEST_TOO_LARGE };
    case Code.DeadlineExceeded:
      return { code: err.code, reason: ErrorReason.DEADLINE_EXCEEDED };
    case Code.Unknown:
      return { code: Code.Internal, reason: ErrorReason.INTERNAL };
    default:
      return { code: err.code, reason: ErrorReason.PROTOCOL_ERROR };
  }
}

/** The field a protobuf-es decode error names, as its proto name ("after_seq"). */
function fieldOf(message: string): string {
  const decoding = /cannot decode field [\w.]*?\.(\w+) from JSON/.exec(message);
  if (decoding?.[1] !== undefined) return decoding[1];
  const unknownKey = /key "([^"]*)" is unknown/.exec(message);
  if (unknownKey?.[1] !== undefined) return unknownKey[1];
  return "";
}

type Protocol = "connect-unary" | "connect-stream" | "grpc" | "grpc-web";

function protocolOf(contentType: string): Protocol {
  if (/^application\/grpc-web/i.test(contentType)) return "grpc-web";
  if (/^application\/grpc/i.test(contentType)) return "grpc";
  if (/^application\/connect\+/i.test(contentType)) return "connect-stream";
  return "connect-unary";
}

type Normalize = (err: ConnectError) => ConnectError;

async function rewriteErrors(
  res: UniversalServerResponse,
  protocol: Protocol,
  normalize: Normalize,
): Promise<UniversalServerResponse> {
  const body = res.body;
  if (body === undefined || body instanceof Uint8Array) return res;
  switch (protocol) {
    case "connect-unary":
      return res.status === 200 ? res : rewriteUnary(res, body, normalize);
    case "grpc":
      return { ...res, body: afterLast(body, () => rewriteTrailer(res.trailer, normalize)) };
    case "grpc-web":
    case "connect-stream":
      return { ...res, body: rewriteFinalFrame(body, res.header, protocol, normalize) };
  }
}

/** Connect unary: the error is the JSON body of a non-200 response. */
async function rewriteUnary(
  res: UniversalServerResponse,
  body: AsyncIterable<Uint8Array>,
  normalize: Normalize,
): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  let bytes: Uint8Array = Buffer.concat(chunks);
  const encoding = res.header?.get("content-encoding") ?? null;
  const compression = compressionOf(encoding);
  if (encoding !== null) {
    if (compression === undefined) return { ...res, body: once(bytes) };
    bytes = await compression.decompress(bytes, MAX_ERROR_FRAME_BYTES);
  }
  const fallback = new ConnectError("internal error", Code.Internal);
  const parsed = errorFromJsonBytes(bytes, undefined, fallback);
  const err = normalize(parsed);
  if (err === parsed) return { ...res, body: once(Buffer.concat(chunks)) };
  const out = errorToJsonBytes(err, undefined);
  const header = new Headers(res.header);
  header.delete("content-encoding");
  header.set("content-length", String(out.byteLength));
  return { ...res, status: codeToHttpStatus(err.code), header, body: once(out) };
}

/** gRPC: the status is in the trailers, final once the body has been read. */
function rewriteTrailer(trailer: Headers | undefined, normalize: Normalize): void {
  if (trailer === undefined) return;
  const err = findTrailerError(trailer);
  if (err === undefined) return;
  const normalized = normalize(err);
  if (normalized !== err) setTrailerStatus(trailer, normalized);
}

/** gRPC-web and Connect streaming: the status is in the final, flagged frame. */
async function* rewriteFinalFrame(
  body: AsyncIterable<Uint8Array>,
  header: Headers | undefined,
  protocol: "grpc-web" | "connect-stream",
  normalize: Normalize,
): AsyncGenerator<Uint8Array> {
  const finalFlag = protocol === "grpc-web" ? trailerFlag : endStreamFlag;
  for await (const chunk of body) {
    const flags = chunk[0] ?? 0;
    if ((flags & finalFlag) === 0 || chunk.byteLength > MAX_ERROR_FRAME_BYTES) {
      yield chunk;
      continue;
    }
    yield (await rewriteFrame(chunk, header, protocol, normalize)) ?? chunk;
  }
}

async function rewriteFrame(
  frame: Uint8Array,
  header: Headers | undefined,
  protocol: "grpc-web" | "connect-stream",
  normalize: Normalize,
): Promise<Uint8Array | undefined> {
  const flags = frame[0] ?? 0;
  let data = frame.subarray(5);
  if ((flags & 0b1) !== 0) {
    const name = header?.get(
      protocol === "grpc-web" ? "grpc-encoding" : "connect-content-encoding",
    );
    const compression = compressionOf(name ?? null);
    if (compression === undefined) return undefined;
    data = await compression.decompress(data, MAX_ERROR_FRAME_BYTES);
  }
  let out: Uint8Array;
  if (protocol === "grpc-web") {
    const trailer = trailerParse(data);
    const err = findTrailerError(trailer);
    const normalized = err && normalize(err);
    if (normalized === err) return undefined;
    out = trailerSerialize(setTrailerStatus(trailer, normalized));
  } else {
    const end = endStreamFromJson(data);
    const normalized = end.error && normalize(end.error);
    if (normalized === end.error) return undefined;
    const json = endStreamToJson(end.metadata, normalized, undefined);
    out = new TextEncoder().encode(JSON.stringify(json));
  }
  return envelope(flags & ~0b1, out);
}

/** Yields `body`, then runs `after` before the consumer learns the body ended. */
async function* afterLast(
  body: AsyncIterable<Uint8Array>,
  after: () => void,
): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } finally {
    after();
  }
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.byteLength);
  out.set(data, 5);
  return out;
}

const compressionOf = (name: string | null) =>
  [compressionGzip, compressionBrotli].find((c) => c.name === name);

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Keeps the request's bytes (up to a cap) so a decode error can be located afterwards. */
function captureBody(req: UniversalServerRequest) {
  const kept: Uint8Array[] = [];
  let size = 0;
  let complete = true;
  const source = req.body;
  if (typeof source !== "object" || source === null || !(Symbol.asyncIterator in source)) {
    return { req, chunks: () => undefined };
  }
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      if (complete && size + chunk.byteLength <= MAX_LOCATE_BYTES) {
        kept.push(chunk);
        size += chunk.byteLength;
      } else {
        complete = false;
      }
      yield chunk;
    }
  }
  return {
    req: { ...req, body: tee() },
    chunks: () => (complete ? Buffer.concat(kept) : undefined),
  };
}

/** The first message of a captured request body, unframed and decompressed. */
function requestMessage(
  body: Uint8Array | undefined,
  protocol: Protocol,
  header: Headers,
): Uint8Array | undefined {
  if (body === undefined) return undefined;
  try {
    if (protocol === "connect-unary") {
      return inflate(body, header.get("content-encoding"));
    }
    if (body.byteLength < 5) return undefined;
    const flags = body[0] ?? 0;
    const len = new DataView(body.buffer, body.byteOffset).getUint32(1);
    const data = body.subarray(5, 5 + len);
    if ((flags & 0b1) === 0) return data;
    const name = protocol === "connect-stream" ? "connect-content-encoding" : "grpc-encoding";
    return inflate(data, header.get(name));
  } catch {
    return undefined;
  }
}

function inflate(data: Uint8Array, encoding: string | null): Uint8Array | undefined {
  const limit = { maxOutputLength: MAX_LOCATE_BYTES };
  if (encoding === null || encoding === "identity") return data;
  if (encoding === "gzip") return gunzipSync(data, limit);
  if (encoding === "br") return brotliDecompressSync(data, limit);
  return undefined;
}
