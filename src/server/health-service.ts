import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";

/**
 * grpc.health.v1: SERVING while the process accepts work, NOT_SERVING once
 * shutdown has begun, so load balancers drain it. Watch sends the current
 * status and then each change.
 */
export function createHealthService(
  isServing: () => boolean,
  changed: AbortSignal,
): Partial<ServiceImpl<typeof Health>> {
  const status = () =>
    create(HealthCheckResponseSchema, {
      status: isServing() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING,
    });
  return {
    check: () => status(),
    async *watch(_req, ctx) {
      yield status();
      if (changed.aborted) return;
      await new Promise<void>((resolve) => {
        changed.addEventListener("abort", () => resolve(), { once: true });
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      if (!ctx.signal.aborted) yield status();
    },
  };
}
