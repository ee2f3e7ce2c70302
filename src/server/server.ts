import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { type ConnectRouter, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Authenticate } from "../auth/authenticator.js";
import type { TransportLimits } from "../config/transport-limits.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../log/logger.js";
import { noMeters, type RpcMeter, type TransportMeter } from "../metrics/meters.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import { withCodecErrors } from "./codec-errors.js";
import { createHealthService, type Liveness } from "./health-service.js";
import {
  authInterceptor,
  errorInterceptor,
  PUBLIC_SERVICES,
  requestLogInterceptor,
} from "./interceptors.js";
import { limitedCompressions } from "./limited-compression.js";
import { limitedRouter } from "./limited-router.js";
import { listen } from "./listen.js";
import { createNodeHandler } from "./node-handler.js";
import { observeInterceptor } from "./observe-interceptor.js";
import { registerReflection } from "./reflection-service.js";
import { requestMaxBytesOf } from "./request-limits.js";
import type { RawRoutes } from "./subscribe-writer.js";

export interface ServerOptions {
  /** Registers the app's services. Health and reflection are added here. */
  routes: (router: ConnectRouter) => void;
  authenticate: Authenticate;
  logger: Logger;
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  shutdownGraceMs: number;
  /** Request sizes, timeouts and connection limits. */
  limits: TransportLimits;
  /** What health reports on besides shutdown: the store and the bus. */
  dependencies?: readonly Liveness[];
  /** Aborted when shutdown begins, so long-lived streams end cleanly. */
  streamsShutdown: AbortController;
  /** Tried in order before Connect: the server's own writers (e.g. live streams). */
  rawRoutes?: readonly RawRoutes[];
  /** Run after authentication, before the handlers (per-user rate limits). */
  interceptors?: readonly Interceptor[];
  /** RPC metrics and server spans; off by default. */
  meters?: RpcMeter & TransportMeter;
  tracing?: Tracing;
}

export interface RunningServer {
  port: number;
  /**
   * Graceful stop: health turns NOT_SERVING, no new connections, streams end,
   * in-flight unary calls finish (up to the grace period), then connections close.
   */
  shutdown(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { logger } = options;
  let serving = true;
  const readMaxBytesOf = (method: Parameters<typeof requestMaxBytesOf>[0]) =>
    requestMaxBytesOf(method, options.limits);
  const router = createConnectRouter({
    interceptors: [
      observeInterceptor(options.meters ?? noMeters, options.tracing ?? noTracing),
      requestLogInterceptor(logger),
      errorInterceptor(logger),
      authInterceptor(options.authenticate),
      ...(options.interceptors ?? []),
    ],
    acceptCompression: limitedCompressions(logger),
    // Unknown JSON keys and enum names are the client's mistake, answered
    // InvalidArgument naming the field (proto3 JSON's default), not dropped.
    jsonOptions: { ignoreUnknownFields: false },
  });
  const routes = limitedRouter(router, readMaxBytesOf);
  // Health answers for every service served here (filled in once all are registered).
  const services = new Set([""]);
  routes.service(
    Health,
    createHealthService({
      services,
      accepting: () => serving,
      dependencies: options.dependencies ?? [],
      shutdown: options.streamsShutdown.signal,
    }),
  );
  options.routes(routes);
  registerReflection(routes);
  for (const handler of router.handlers) services.add(handler.service.typeName);
  withCodecErrors(router.handlers);
  const handler = createNodeHandler({
    router,
    readMaxBytesOf,
    authenticate: options.authenticate,
    publicServices: PUBLIC_SERVICES,
    requestBodyTimeoutMs: options.limits.requestBodyTimeoutMs,
    rejectedBodyLingerMs: options.limits.rejectedBodyLingerMs,
    logger,
    meter: options.meters ?? noMeters,
  });
  const rawRoutes = options.rawRoutes ?? [];
  const listener = await listen({
    handler: (req, res) => {
      for (const route of rawRoutes) if (route.request(req, res)) return;
      handler(req, res);
    },
    ...(rawRoutes.length === 0
      ? {}
      : {
          streamHandler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
            rawRoutes.some((route) => route.stream(stream, headers)),
        }),
    host: options.host,
    port: options.port,
    tls: options.tls,
    limits: options.limits,
    logger,
  });

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    serving = false;
    listener.stopAccepting();
    options.streamsShutdown.abort();
    listener.closeGracefully();
    // After a clean drain the GOAWAY'd sessions close on their own; cutting them
    // now could cancel the final frames of streams that just ended.
    if (!(await listener.drained(options.shutdownGraceMs))) {
      logger.warn("grace period over; closing connections with calls in flight");
      listener.destroyAll();
    }
  };
  return {
    port: listener.port,
    shutdown: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
