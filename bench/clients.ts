import { randomBytes } from "node:crypto";
import type { Transport } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { generateUserSig } from "../src/auth/usersig.js";

export type BenchProtocol = "grpc" | "connect";

/** The app the bench server runs as: a fresh secret per run, never the dev key. */
export interface BenchApp {
  appId: number;
  secretKey: string;
  adminUserId: string;
}

export function createBenchApp(): BenchApp {
  return {
    appId: 1400099999,
    secretKey: randomBytes(24).toString("hex"),
    adminUserId: "bench_admin",
  };
}

/** The Authorization header a user's calls carry (sigs are made once, up front). */
export function authHeader(app: BenchApp, userId: string): Record<string, string> {
  const sig = generateUserSig({
    appId: app.appId,
    secretKey: app.secretKey,
    userId,
    expireSec: 24 * 3600,
  });
  return { authorization: `Bearer ${sig}` };
}

/**
 * `count` transports, each with its own HTTP/2 session (one TCP connection), so
 * load is spread over several connections as many real clients would produce.
 * Auth is per call (headers), which lets one connection carry many users.
 */
export function createTransportPool(
  baseUrl: string,
  count: number,
  protocol: BenchProtocol,
  options: { gzipRequests?: boolean } = {},
): Transport[] {
  const compression = options.gzipRequests ? { sendCompression: compressionGzip } : {};
  // Hundreds of connections opened at once on a loaded machine: connect-node's 20 s
  // default for establishing one is not a figure under test.
  const connectTimeoutMs = 120_000;
  return Array.from({ length: count }, () =>
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, connectTimeoutMs, ...compression })
      : createConnectTransport({
          baseUrl,
          httpVersion: "2",
          useBinaryFormat: true,
          connectTimeoutMs,
          ...compression,
        }),
  );
}
