import { parseContentType as parseConnect } from "@connectrpc/connect/protocol-connect";
import { parseContentType as parseGrpc } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as parseGrpcWeb } from "@connectrpc/connect/protocol-grpc-web";

/**
 * The wire protocol of a request, decided from its method and headers alone
 * (never its body), so a response can be written before the body is read.
 * `enveloped`: the body is length-prefixed messages (5-byte header each).
 */
export type WireProtocol =
  | { kind: "connect-unary"; binary: boolean; enveloped: false }
  | { kind: "connect-stream"; binary: boolean; enveloped: true }
  | { kind: "grpc"; binary: boolean; enveloped: true }
  | { kind: "grpc-web"; binary: boolean; text: boolean; enveloped: true };

/** Bytes each enveloped message adds to its payload: 1 flag byte + 4 length bytes. */
export const ENVELOPE_HEADER_BYTES = 5;

/**
 * Which of Connect, gRPC or gRPC-Web a request speaks; undefined when the
 * content type is none of them. A GET is a Connect unary call (its message is
 * in the query string, `encoding=proto|json`).
 */
export function detectProtocol(
  method: string | undefined,
  contentType: string | undefined,
  url: string | undefined,
): WireProtocol | undefined {
  if (method === "GET") {
    const encoding = new URLSearchParams(url?.split("?", 2)[1] ?? "").get("encoding");
    return { kind: "connect-unary", binary: encoding === "proto", enveloped: false };
  }
  const type = contentType?.trim() ?? null;
  const grpcWeb = parseGrpcWeb(type);
  if (grpcWeb) return { kind: "grpc-web", ...grpcWeb, enveloped: true };
  const grpc = parseGrpc(type);
  if (grpc) return { kind: "grpc", ...grpc, enveloped: true };
  const connect = parseConnect(type);
  if (connect?.stream) return { kind: "connect-stream", binary: connect.binary, enveloped: true };
  if (connect) return { kind: "connect-unary", binary: connect.binary, enveloped: false };
  return undefined;
}
