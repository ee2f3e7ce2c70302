import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import { clip } from "./error-mapper.js";

/** A dependency the server cannot serve without (the document store, the bus). */
export interface Liveness {
  name: string;
  /** Cheap: read from the client's own connection state, no round trip. */
  isUp(): boolean;
  /** Calls `listener` on every change of isUp(); returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

export interface HealthDeps {
  /** Service names Check and Watch know ("" is the server as a whole). */
  services: ReadonlySet<string>;
  /** False once shutdown has begun. */
  accepting: () => boolean;
  dependencies: readonly Liveness[];
  /** Aborted when shutdown begins: Watch streams send NOT_SERVING and end. */
  shutdown: AbortSignal;
}

/**
 * grpc.health.v1: SERVING while the process accepts work and every dependency
 * is reachable; NOT_SERVING while one is not, or once shutdown has begun, so
 * load balancers route around the node. Unknown service: Check fails with
 * NOT_FOUND, Watch answers SERVICE_UNKNOWN (as the protocol specifies). Watch
 * sends the current status and then each change.
 */
export function createHealthService(deps: HealthDeps): Partial<ServiceImpl<typeof Health>> {
  const serving = () => deps.accepting() && deps.dependencies.every((d) => d.isUp());
  const statusOf = (service: string) =>
    !deps.services.has(service)
      ? ServingStatus.SERVICE_UNKNOWN
      : serving()
        ? ServingStatus.SERVING
        : ServingStatus.NOT_SERVING;
  return {
    check(req) {
      if (!deps.services.has(req.service)) {
        throw new ConnectError(`unknown service ${clip(req.service)}`, Code.NotFound);
      }
      return create(HealthCheckResponseSchema, { status: statusOf(req.service) });
    },
    async *watch(req, ctx) {
      let wake: (() => void) | undefined;
      const poke = () => wake?.();
      const unsubscribe = deps.dependencies.map((d) => d.onChange(poke));
      deps.shutdown.addEventListener("abort", poke);
      ctx.signal.addEventListener("abort", poke);
      try {
        let last: ServingStatus | undefined;
        for (;;) {
          const changed = new Promise<void>((resolve) => {
            wake = resolve;
          });
          const status = statusOf(req.service);
          if (status !== last) {
            last = status;
            yield create(HealthCheckResponseSchema, { status });
          }
          if (ctx.signal.aborted || deps.shutdown.aborted) return;
          await changed;
        }
      } finally {
        for (const off of unsubscribe) off();
        deps.shutdown.removeEventListener("abort", poke);
        ctx.signal.removeEventListener("abort", poke);
      }
    },
  };
}
