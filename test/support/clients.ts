import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { generateUserSig } from "../../src/auth/usersig.js";
import { ErrorDetailSchema, type ErrorReason } from "../../src/gen/im/v1/errors_pb.js";

export const TEST_APP_ID = 1400000123;
export const TEST_SECRET_KEY = "test-secret-key";

/** A sig for `userId` signed with the test app's key. */
export const sigFor = (userId: string, opts: { expireSec?: number; issuedAtSec?: number } = {}) =>
  generateUserSig({
    appId: TEST_APP_ID,
    secretKey: TEST_SECRET_KEY,
    userId,
    expireSec: opts.expireSec ?? 3600,
    ...(opts.issuedAtSec === undefined ? {} : { issuedAtSec: opts.issuedAtSec }),
  });

const bearer =
  (sig: string | undefined): Interceptor =>
  (next) =>
  (req) => {
    if (sig !== undefined) req.header.set("authorization", `Bearer ${sig}`);
    return next(req);
  };

export type Protocol = "connect-json-h1" | "connect-h2" | "grpc" | "grpc-web";
export const PROTOCOLS: Protocol[] = ["connect-json-h1", "connect-h2", "grpc", "grpc-web"];

export function transportFor(protocol: Protocol, baseUrl: string, sig?: string): Transport {
  const interceptors = [bearer(sig)];
  switch (protocol) {
    case "connect-json-h1":
      return createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        useBinaryFormat: false,
        interceptors,
      });
    case "connect-h2":
      return createConnectTransport({ baseUrl, httpVersion: "2", interceptors });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors });
  }
}

/** A client of `service` authenticated as `userId` (or anonymous), over HTTP/2 Connect by default. */
export function clientAs<T extends DescService>(
  service: T,
  baseUrl: string,
  userId: string | undefined,
  protocol: Protocol = "connect-h2",
): Client<T> {
  return createClient(
    service,
    transportFor(protocol, baseUrl, userId === undefined ? undefined : sigFor(userId)),
  );
}

/** Awaits a call expected to fail; returns its code and stable reason. */
export async function failureOf(
  call: Promise<unknown>,
): Promise<{ code: number; reason: ErrorReason; field: string; err: ConnectError }> {
  try {
    await call;
  } catch (e) {
    const err = ConnectError.from(e);
    const detail = err.findDetails(ErrorDetailSchema)[0];
    return { code: err.code, reason: detail?.reason ?? 0, field: detail?.field ?? "", err };
  }
  throw new Error("expected the call to fail, but it succeeded");
}
