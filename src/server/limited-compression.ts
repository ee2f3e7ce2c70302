import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { Logger } from "../log/logger.js";
import { requestTooLarge } from "./request-errors.js";

/**
 * connect-node's gzip and brotli, which stop inflating at the RPC's readMaxBytes
 * (zlib maxOutputLength: a bomb costs at most the limit); only the error gains
 * our stable reason.
 */
export function limitedCompressions(logger: Logger): Compression[] {
  return [compressionGzip, compressionBrotli].map((c) => ({
    name: c.name,
    compress: (bytes) => c.compress(bytes),
    decompress: (bytes, readMaxBytes) =>
      c.decompress(bytes, readMaxBytes).catch((err: unknown) => {
        if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
          throw requestTooLarge(readMaxBytes, logger);
        }
        throw err;
      }),
  }));
}
