import type { ServiceImpl } from "@connectrpc/connect";
import { requireCaller } from "../auth/caller.js";
import { invalidField } from "../errors/domain-error.js";
import type { EventService } from "../gen/im/v1/events_pb.js";
import type { LiveHub } from "./live-hub.js";

const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * EventService over Connect: one live stream per device, ended by the client,
 * by shutdown, or by the hub (replaced, sig expired or revoked, account deleted).
 */
export function createEventService(
  hub: LiveHub,
  shutdown: AbortSignal,
): ServiceImpl<typeof EventService> {
  return {
    subscribe(req, ctx) {
      const caller = requireCaller(ctx);
      if (!DEVICE_ID.test(req.deviceId)) {
        throw invalidField("device_id", "1-64 characters of [A-Za-z0-9_.:-] required");
      }
      return hub.stream(
        {
          userId: caller.userId,
          deviceId: req.deviceId,
          sigIssuedAtMs: caller.sigIssuedAtMs,
          sigExpiresAtMs: caller.sigExpiresAtMs,
        },
        AbortSignal.any([ctx.signal, shutdown]),
      );
    },
  };
}
