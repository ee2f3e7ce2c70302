import type { ServiceImpl } from "@connectrpc/connect";
import { type Caller, requireCaller } from "../auth/caller.js";
import { assertDeviceId } from "../common/device-id.js";
import type { EventService } from "../gen/im/v1/events_pb.js";
import type { LiveHub, StreamOwner } from "./live-hub.js";

/** Whose stream a Subscribe call opens; throws for an invalid device id. */
export function streamOwner(caller: Caller, deviceId: string): StreamOwner {
  assertDeviceId(deviceId);
  return {
    userId: caller.userId,
    deviceId,
    sigIssuedAtMs: caller.sigIssuedAtMs,
    sigExpiresAtMs: caller.sigExpiresAtMs,
  };
}

/**
 * EventService over Connect: one live stream per device, ended by the client,
 * by shutdown, or by the hub (replaced, sig expired or revoked, account deleted).
 * The server's own writer (src/server/subscribe-writer.ts) serves Subscribe
 * ahead of this; this answers what the writer leaves to Connect.
 */
export function createEventService(
  hub: LiveHub,
  shutdown: AbortSignal,
): ServiceImpl<typeof EventService> {
  return {
    subscribe(req, ctx) {
      const owner = streamOwner(requireCaller(ctx), req.deviceId);
      return hub.stream(owner, AbortSignal.any([ctx.signal, shutdown]));
    },
  };
}
