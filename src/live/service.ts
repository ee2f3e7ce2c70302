import type { ServiceImpl } from "@connectrpc/connect";
import { type Caller, requireCaller } from "../auth/caller.js";
import { assertDeviceId } from "../common/device-id.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import type { EventService, Platform } from "../gen/im/v1/events_pb.js";
import { isKnownPlatform } from "../presence/platforms.js";
import type { LiveHub, StreamOwner } from "./live-hub.js";

/** Whose stream a Subscribe call opens; throws for an invalid device id or platform. */
export function streamOwner(caller: Caller, deviceId: string, platform: Platform): StreamOwner {
  assertDeviceId(deviceId);
  if (!isKnownPlatform(platform)) {
    throw new DomainError(
      "invalid-argument",
      ErrorReason.UNKNOWN_PLATFORM,
      `platform: unknown value ${platform}`,
      { field: "platform" },
    );
  }
  return {
    userId: caller.userId,
    deviceId,
    platform,
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
      const owner = streamOwner(requireCaller(ctx), req.deviceId, req.platform);
      return hub.stream(owner, AbortSignal.any([ctx.signal, shutdown]));
    },
  };
}
