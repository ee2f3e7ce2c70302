import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Authenticate } from "../auth/authenticator.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../log/logger.js";
import { createHealthService } from "./health-service.js";
import { authInterceptor, errorInterceptor, requestLogInterceptor } from "./interceptors.js";
import { listen } from "./listen.js";
import type { RawRoute } from "./subscribe-writer.js";

export interface ServerOptions {
  /** Registers the app's services. Health is added here. */
  routes: (router: ConnectRouter) => void;
  authenticate: Authenticate;
  logger: Logger;
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  shutdownGraceMs: number;
  /** Aborted when shutdown begins, so long-lived streams end cleanly. */
  streamsShutdown: AbortController;
  /** Tried in order before Connect: the server's own writers (e.g. live streams). */
  rawRoutes?: readonly RawRoute[];
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
  const handler = connectNodeAdapter({
    routes(router) {
      router.service(
        Health,
        createHealthService(() => serving, options.streamsShutdown.signal),
      );
      options.routes(router);
    },
    interceptors: [
      requestLogInterceptor(logger),
      errorInterceptor(logger),
      authInterceptor(options.authenticate),
    ],
  });
  const rawRoutes = options.rawRoutes ?? [];
  const listener = await listen({
    handler: (req, res) => {
      for (const route of rawRoutes) if (route(req, res)) return;
      handler(req, res);
    },
    host: options.host,
    port: options.port,
    tls: options.tls,
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
