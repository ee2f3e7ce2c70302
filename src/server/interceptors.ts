import { randomUUID } from "node:crypto";
import { createContextKey, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { Authenticate } from "../auth/authenticator.js";
import { callerKey } from "../auth/caller.js";
import type { Logger } from "../log/logger.js";
import { toConnectError } from "./error-mapper.js";
import { REFLECTION_SERVICES } from "./reflection-service.js";

export const requestLoggerKey = createContextKey<Logger | undefined>(undefined, {
  description: "request-scoped logger",
});

/**
 * Services exempt from authentication: load balancers probe health without a sig, and
 * tools (grpcurl, buf curl) discover the public contract through reflection.
 */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  ...REFLECTION_SERVICES,
]);

/** The UserSig of an `Authorization: Bearer <sig>` header. */
export const bearerSig = (header: string | null | undefined): string | undefined =>
  (header ?? "").match(/^Bearer\s+(\S+)$/i)?.[1];

/**
 * Outermost: assigns a request id (or keeps the caller's x-request-id), returns
 * it in a header, and logs one line per call with its outcome and duration.
 */
export function requestLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const requestId = sanitizeRequestId(req.header.get("x-request-id")) ?? randomUUID();
    const log = logger.child({ requestId, rpc: `${req.service.typeName}/${req.method.name}` });
    req.contextValues.set(requestLoggerKey, log);
    const started = performance.now();
    try {
      const res = await next(req);
      res.header.set("x-request-id", requestId);
      log.debug("rpc ok", { ms: Math.round(performance.now() - started) });
      return res;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      log.info("rpc failed", { ms: Math.round(performance.now() - started), code });
      throw err;
    }
  };
}

/** Maps every error a handler throws, including mid-stream, to a ConnectError with a reason. */
export function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const log = req.contextValues.get(requestLoggerKey) ?? logger;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: mapStreamErrors(res, log) } satisfies StreamResponse;
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}

async function* mapStreamErrors<T>(res: { message: AsyncIterable<T> }, log: Logger) {
  try {
    yield* res.message;
  } catch (err) {
    throw toConnectError(err, log);
  }
}

/**
 * Authenticates every call but public services: `Authorization: Bearer <UserSig>`.
 * Over HTTP the node handler has already verified the caller from the headers,
 * before reading the body, and handed it over; only other transports reach the
 * verification here.
 */
export function authInterceptor(authenticate: Authenticate): Interceptor {
  return (next) => async (req) => {
    if (
      !PUBLIC_SERVICES.has(req.service.typeName) &&
      req.contextValues.get(callerKey) === undefined
    ) {
      req.contextValues.set(
        callerKey,
        await authenticate(bearerSig(req.header.get("authorization"))),
      );
    }
    return next(req);
  };
}

export const sanitizeRequestId = (id: string | null): string | undefined =>
  id !== null && /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? id : undefined;
