import { PushService } from "../../src/gen/im/v1/push_pb.js";
import { clientAs } from "./clients.js";

/** Gives a device an FCM registration: presence keeps a mobile device PushOnline only with one. */
export async function registerPush(baseUrl: string, userId: string, deviceId: string) {
  await clientAs(PushService, baseUrl, userId).registerPushToken({
    deviceId,
    target: { case: "fcm", value: { token: `fcm-${userId}-${deviceId}` } },
  });
}
