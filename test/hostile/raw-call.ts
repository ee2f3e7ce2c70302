import http2 from "node:http2";
import { gunzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { ErrorDetailSchema, type ErrorReason } from "../../src/gen/im/v1/errors_pb.js";

/** How a raw request is framed on the wire. */
export type Wire = "connect-proto" | "connect-json" | "grpc" | "grpc-web" | "connect-stream";

export interface RawRequest {
  path: string;
  wire: Wire;
  /** The serialized message (framing is added for enveloped wires unless `framed`). */
  body: Uint8Array;
  /** `body` is already the complete HTTP body (enveloped wires). */
  framed?: boolean;
  sig?: string;
  headers?: Record<string, string>;
}

/** What came back, decoded the way a client of that protocol decodes it. */
export interface RawOutcome {
  httpStatus: number;
  /** 0 for success. */
  code: Code | 0;
  reason: ErrorReason | undefined;
  field: string;
  message: string;
  /** Set when the answer is not a well-formed response of the protocol. */
  malformed?: string;
  /** The error came as a bare HTTP status (unsupported content type, unknown path). */
  httpOnly: boolean;
  bodyBytes: number;
}

export const CONTENT_TYPE: Record<Wire, string> = {
  "connect-proto": "application/proto",
  "connect-json": "application/json",
  grpc: "application/grpc+proto",
  "grpc-web": "application/grpc-web+proto",
  "connect-stream": "application/connect+proto",
};

export const envelope = (flags: number, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(5 + data.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.byteLength);
  out.set(data, 5);
  return out;
};

const OPEN_STREAM: RawOutcome = {
  httpStatus: 200,
  code: 0,
  reason: undefined,
  field: "",
  message: "stream open",
  httpOnly: false,
  bodyBytes: 0,
};

const isEnveloped = (wire: Wire) => wire !== "connect-proto" && wire !== "connect-json";

/** Sends one raw request on `session` and decodes the answer. */
export function rawCall(
  session: http2.ClientHttp2Session,
  req: RawRequest,
  timeoutMs = 30_000,
  /** For server streams: cancel and count as answered once open this long. */
  openStreamMs?: number,
): Promise<RawOutcome> {
  const body = isEnveloped(req.wire) && req.framed !== true ? envelope(0, req.body) : req.body;
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": req.path,
    "content-type": CONTENT_TYPE[req.wire],
    ...(req.wire === "grpc" ? { te: "trailers" } : {}),
    ...(req.sig === undefined ? {} : { authorization: `Bearer ${req.sig}` }),
    ...req.headers,
  };
  // The server answers in the protocol of the content type actually sent.
  const sent = String(headers["content-type"] ?? "");
  const answerWire: Wire = /^application\/grpc-web/.test(sent)
    ? "grpc-web"
    : /^application\/grpc/.test(sent)
      ? "grpc"
      : /^application\/connect\+/.test(sent)
        ? "connect-stream"
        : /json/.test(sent)
          ? "connect-json"
          : "connect-proto";
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let openTimer: NodeJS.Timeout | undefined;
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer within ${timeoutMs} ms for ${req.path} (${req.wire})`));
    }, timeoutMs);
    stream.on("response", (h) => {
      responseHeaders = h;
      // A healthy live stream stays open: past the grace period it counts as answered.
      if (openStreamMs !== undefined && Number(h[":status"]) === 200) {
        openTimer = setTimeout(() => {
          stillOpen = true;
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }, openStreamMs);
      }
    });
    let stillOpen = false;
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on("close", () => {
      clearTimeout(timer);
      clearTimeout(openTimer);
      if (stillOpen) {
        resolve({ ...OPEN_STREAM, httpStatus: 200, bodyBytes: chunks.length });
        return;
      }
      if (
        stream.rstCode !== undefined &&
        stream.rstCode !== 0 &&
        responseHeaders[":status"] === undefined
      ) {
        reject(new Error(`stream reset (${stream.rstCode}) for ${req.path} (${req.wire})`));
        return;
      }
      resolve(decode(answerWire, responseHeaders, trailers, Buffer.concat(chunks)));
    });
    stream.end(Buffer.from(body));
  });
}

function toHeaders(h: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") || v === undefined) continue;
    out.set(k, Array.isArray(v) ? v.join(", ") : String(v));
  }
  return out;
}

function fromError(
  err: ConnectError | undefined,
  base: Omit<RawOutcome, "code" | "reason" | "field" | "message">,
): RawOutcome {
  if (err === undefined) return { ...base, code: 0, reason: undefined, field: "", message: "" };
  const detail = err.findDetails(ErrorDetailSchema)[0];
  return {
    ...base,
    code: err.code,
    reason: detail?.reason,
    field: detail?.field ?? "",
    message: err.rawMessage,
  };
}

function decode(
  wire: Wire,
  rawHeaders: http2.IncomingHttpHeaders,
  rawTrailers: http2.IncomingHttpHeaders,
  body: Buffer,
): RawOutcome {
  const httpStatus = Number(rawHeaders[":status"] ?? 0);
  const header = toHeaders(rawHeaders);
  const base = { httpStatus, httpOnly: false, bodyBytes: body.byteLength };
  const contentType = header.get("content-type") ?? "";
  const bare = (): RawOutcome => ({
    ...base,
    httpOnly: true,
    code: codeFromHttpStatus(httpStatus),
    reason: undefined,
    field: "",
    message: `HTTP ${httpStatus}`,
  });
  try {
    if (wire === "connect-proto" || wire === "connect-json") {
      if (httpStatus === 200) return fromError(undefined, base);
      if (!contentType.startsWith("application/json")) return bare();
      const bytes = header.get("content-encoding") === "gzip" ? gunzipSync(body) : body;
      const fallback = new ConnectError("malformed error body", Code.Unknown);
      const err = errorFromJsonBytes(bytes, undefined, fallback);
      return err === fallback
        ? { ...fromError(err, base), malformed: "error body" }
        : fromError(err, base);
    }
    if (httpStatus !== 200) return bare();
    if (wire === "grpc") {
      const trailer = toHeaders(rawTrailers);
      const source = trailer.has("grpc-status") ? trailer : header;
      if (!source.has("grpc-status"))
        return { ...fromError(undefined, base), malformed: "no grpc-status" };
      return fromError(findTrailerError(source), base);
    }
    // gRPC-web and Connect streaming: the status is in the final flagged frame.
    let pos = 0;
    while (pos + 5 <= body.byteLength) {
      const flags = body[pos] ?? 0;
      const len = body.readUInt32BE(pos + 1);
      let data: Uint8Array = body.subarray(pos + 5, pos + 5 + len);
      pos += 5 + len;
      const final = wire === "grpc-web" ? (flags & 0x80) !== 0 : (flags & 0x02) !== 0;
      if (!final) continue;
      if ((flags & 0x01) !== 0) data = gunzipSync(data);
      if (wire === "grpc-web") return fromError(findTrailerError(trailerParse(data)), base);
      const json = JSON.parse(new TextDecoder().decode(data)) as { error?: unknown };
      if (json.error === undefined) return fromError(undefined, base);
      const fallback = new ConnectError("malformed end-stream", Code.Unknown);
      const err = errorFromJsonBytes(
        new TextEncoder().encode(JSON.stringify(json.error)),
        undefined,
        fallback,
      );
      return err === fallback
        ? { ...fromError(err, base), malformed: "end-stream" }
        : fromError(err, base);
    }
    return { ...fromError(undefined, base), malformed: "no final frame" };
  } catch (e) {
    return { ...bare(), httpOnly: false, malformed: `undecodable answer: ${String(e)}` };
  }
}
