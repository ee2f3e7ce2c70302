import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin, requireCaller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { assertDeviceId } from "../common/device-id.js";
import { invalidField } from "../errors/domain-error.js";
import {
  ApnsEnvironment,
  type PushService,
  type RegisterPushTokenRequest,
} from "../gen/im/v1/push_pb.js";
import { assertWindow } from "./do-not-disturb.js";
import type { PushStats } from "./stats.js";
import type { PushTarget, PushTokenStore } from "./store.js";

const APNS_TOKEN = /^[0-9a-fA-F]{32,200}$/;
const BUNDLE_ID = /^[A-Za-z0-9.-]{1,155}$/;
// FCM registration tokens: URL-safe base64 with ":" separators, well under 4 KB.
const FCM_TOKEN = /^[A-Za-z0-9_:.-]{1,4096}$/;

/** The target a registration request names; throws InvalidArgument naming the bad field. */
export function targetFromProto(req: RegisterPushTokenRequest): PushTarget {
  const t = req.target;
  switch (t.case) {
    case "apns": {
      if (!APNS_TOKEN.test(t.value.token)) throw invalidField("apns.token", "32-200 hex digits");
      if (!BUNDLE_ID.test(t.value.bundleId)) {
        throw invalidField("apns.bundle_id", "1-155 characters of [A-Za-z0-9.-]");
      }
      const environment =
        t.value.environment === ApnsEnvironment.SANDBOX
          ? "sandbox"
          : t.value.environment === ApnsEnvironment.PRODUCTION
            ? "production"
            : undefined;
      if (environment === undefined)
        throw invalidField("apns.environment", "SANDBOX or PRODUCTION");
      return {
        channel: "apns",
        // Apple's tokens are hex; one case so the same token is always one registration.
        token: t.value.token.toLowerCase(),
        environment,
        bundleId: t.value.bundleId,
      };
    }
    case "fcm":
      if (!FCM_TOKEN.test(t.value.token)) {
        throw invalidField("fcm.token", "1-4096 characters of [A-Za-z0-9_:.-]");
      }
      return { channel: "fcm", token: t.value.token };
    default:
      throw invalidField("target", "apns or fcm required");
  }
}

/** PushService over Connect: a device's registration, always the caller's own. */
export function createPushService(deps: {
  store: PushTokenStore;
  clock: Clock;
  stats: PushStats;
}): ServiceImpl<typeof PushService> {
  return {
    async getPushStats(_req, ctx) {
      requireAdmin(ctx);
      const counts = deps.stats.snapshot();
      return {
        providers: (["apns", "fcm"] as const).map((provider) => ({
          provider,
          sent: BigInt(counts[provider].sent),
          failed: Object.fromEntries(
            Object.entries(counts[provider].failed).map(([k, v]) => [k, BigInt(v)]),
          ),
          tokensRemoved: BigInt(counts[provider].tokensRemoved),
          notConfigured: BigInt(counts[provider].notConfigured),
        })),
      };
    },
    async registerPushToken(req, ctx) {
      const caller = requireCaller(ctx);
      assertDeviceId(req.deviceId);
      const target = targetFromProto(req);
      await deps.store.upsertPushRegistration(caller.userId, req.deviceId, target, deps.clock());
      return {};
    },
    async unregisterPushToken(req, ctx) {
      const caller = requireCaller(ctx);
      assertDeviceId(req.deviceId);
      return { removed: await deps.store.deletePushRegistration(caller.userId, req.deviceId) };
    },
    async setDoNotDisturb(req, ctx) {
      const caller = requireCaller(ctx);
      const w = req.window;
      const window =
        w === undefined
          ? undefined
          : { startMinute: w.startMinute, endMinute: w.endMinute, timeZone: w.timeZone };
      if (window !== undefined) assertWindow(window);
      await deps.store.upsertDoNotDisturb(caller.userId, window);
      return {};
    },
    async getDoNotDisturb(_req, ctx) {
      const caller = requireCaller(ctx);
      const window = (await deps.store.selectDoNotDisturb([caller.userId])).get(caller.userId);
      return window === undefined ? {} : { window };
    },
    async setPushBadge(req, ctx) {
      const caller = requireCaller(ctx);
      assertDeviceId(req.deviceId);
      await deps.store.updateBadge(caller.userId, req.deviceId, req.badge);
      return {};
    },
  };
}
