import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log/logger.js";
import { createMetrics, type Metrics } from "./metrics.js";

export interface MetricsSetupDeps {
  host: string;
  /** 0 lets the system choose (tests). */
  port: number;
  logger: Logger;
}

export interface MetricsComponent extends Metrics {
  /** The port /metrics is served on. */
  port: number;
  stop(): Promise<void>;
}

/**
 * Prometheus metrics on their own port (kept off the public API port, so the
 * load balancer never exposes them): GET /metrics in the text exposition format.
 */
export async function setupMetrics(deps: MetricsSetupDeps): Promise<MetricsComponent> {
  const metrics = createMetrics();
  const { registry } = metrics;
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => {
        deps.logger.warn("metrics scrape failed", { err });
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.port, deps.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    ...metrics,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
