import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { endStreamFromJson, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { ErrorDetailSchema, type ErrorReason } from "../../src/gen/im/v1/errors_pb.js";

/** The wire shapes a hostile client can send, by hand, byte for byte. */
export type RawProtocol = "connect" | "connect-stream" | "grpc" | "grpc-web";

export interface RawCall {
  baseUrl: string;
  protocol: RawProtocol;
  httpVersion: 1 | 2;
  /** "/pkg.Service/Method" */
  path: string;
  headers?: Record<string, string>;
  /** Sent as is; the request stays open after it when `keepOpen`. */
  body: Uint8Array;
  keepOpen?: boolean;
}

export interface RawResult {
  status: number;
  error: ConnectError | undefined;
  reason: ErrorReason | undefined;
  ms: number;
  /** Bytes of the body the server had taken when it answered (a lower bound). */
  requestBytesWritten: number;
  /** Headers plus trailers as received, for size checks. */
  metadataBytes: number;
  /**
   * HTTP/1.1 only: the server closed the connection while the body was still being
   * sent, and the client hit that (EPIPE, ECONNRESET) before it read any answer.
   */
  cutWhileSending?: boolean;
  close(): void;
}

const CONTENT_TYPE: Record<RawProtocol, string> = {
  connect: "application/proto",
  "connect-stream": "application/connect+proto",
  grpc: "application/grpc+proto",
  "grpc-web": "application/grpc-web+proto",
};

/** Sends one raw call and decodes the answer as its protocol's error, if it is one. */
export function rawCall(call: RawCall): Promise<RawResult> {
  return call.httpVersion === 2 ? rawH2(call) : rawH1(call);
}

function rawH1(call: RawCall): Promise<RawResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${call.baseUrl}${call.path}`, {
      method: "POST",
      headers: { "content-type": CONTENT_TYPE[call.protocol], ...call.headers },
    });
    let answered = false;
    // A server may stop reading an unwanted body: a write error after its answer is expected.
    req.on("error", (err) => {
      if (answered) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPIPE" || code === "ECONNRESET") {
        const cut = result(0, undefined, started, req.socket?.bytesWritten ?? 0, 0, () => {});
        resolve({ ...cut, cutWhileSending: true });
      } else reject(err);
    });
    req.on("response", (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (typeof v === "string") headers.set(k, v);
        }
        const body = Buffer.concat(chunks);
        const error = decodeError(call.protocol, res.statusCode ?? 0, headers, undefined, body);
        resolve(
          result(res.statusCode ?? 0, error, started, req.socket?.bytesWritten ?? 0, 0, () =>
            req.destroy(),
          ),
        );
      });
    });
    writeChunked(req, call.body, !call.keepOpen);
  });
}

function rawH2(call: RawCall): Promise<RawResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const session = http2.connect(call.baseUrl);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": call.path,
      "content-type": CONTENT_TYPE[call.protocol],
      te: "trailers",
      ...call.headers,
    });
    let status = 0;
    let metadataBytes = 0;
    const headers = new Headers();
    const trailers = new Headers();
    const addAll = (target: Headers, h: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(h)) {
        metadataBytes += k.length + String(v).length;
        if (typeof v === "string" && !k.startsWith(":")) target.set(k, v);
      }
    };
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      addAll(headers, h);
    });
    stream.on("trailers", (h) => addAll(trailers, h));
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    // Done once the answer has ended (END_STREAM), whatever is left of our upload.
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const body = Buffer.concat(chunks);
      if (status === 0) {
        reject(new Error(`stream closed without a response (rst ${stream.rstCode})`));
      } else {
        const error = decodeError(call.protocol, status, headers, trailers, body);
        resolve(
          result(status, error, started, session.socket?.bytesWritten ?? 0, metadataBytes, () =>
            session.destroy(),
          ),
        );
      }
    };
    stream.on("end", finish);
    stream.on("close", finish);
    writeChunked(stream, call.body, !call.keepOpen);
  });
}

/**
 * Writes the body 64 KB at a time, as a client streaming an upload does, and
 * stops once the server has closed the stream or connection.
 */
function writeChunked(out: import("node:stream").Writable, body: Uint8Array, end: boolean): void {
  const chunk = 64 * 1024;
  let at = 0;
  const more = () => {
    while (at < body.byteLength && !out.destroyed && !out.writableEnded) {
      const piece = body.subarray(at, at + chunk);
      at += piece.byteLength;
      if (!out.write(piece)) {
        out.once("drain", more);
        return;
      }
    }
    if (end && at >= body.byteLength && !out.destroyed && !out.writableEnded) out.end();
  };
  more();
}

function result(
  status: number,
  error: ConnectError | undefined,
  started: number,
  requestBytesWritten: number,
  metadataBytes: number,
  close: () => void,
): RawResult {
  return {
    status,
    error,
    reason: error?.findDetails(ErrorDetailSchema)[0]?.reason,
    ms: Math.round(performance.now() - started),
    requestBytesWritten,
    metadataBytes,
    close,
  };
}

function decodeError(
  protocol: RawProtocol,
  status: number,
  headers: Headers,
  trailers: Headers | undefined,
  body: Uint8Array,
): ConnectError | undefined {
  const fallback = new ConnectError(`HTTP ${status}`, Code.Unknown);
  switch (protocol) {
    case "connect":
      return status === 200 ? undefined : errorFromJsonBytes(body, headers, fallback);
    case "connect-stream": {
      for (const { flags, data } of envelopes(body)) {
        if (flags === 2) return endStreamFromJson(data).error;
      }
      return status === 200 ? undefined : fallback;
    }
    case "grpc":
      return findTrailerError(trailers ?? new Headers()) ?? findTrailerError(headers);
    case "grpc-web": {
      for (const { flags, data } of envelopes(body)) {
        if (flags === 0x80) return findTrailerError(trailerParse(data));
      }
      return findTrailerError(headers);
    }
  }
}

function* envelopes(body: Uint8Array): Generator<{ flags: number; data: Uint8Array }> {
  let at = 0;
  while (at + 5 <= body.byteLength) {
    const length = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    yield { flags: body[at] ?? 0, data: body.subarray(at + 5, at + 5 + length) };
    at += 5 + length;
  }
}

/** Peak and current resident memory of a process, in MB, from /proc. */
export function rssOf(pid: number): { peakMb: number; nowMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(status.match(new RegExp(`${name}:\\s+(\\d+)`))?.[1] ?? 0);
  return { peakMb: Math.round(kb("VmHWM") / 1024), nowMb: Math.round(kb("VmRSS") / 1024) };
}

/** Resets a process's peak RSS (VmHWM), so the next rssOf() peak covers only what follows. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}
