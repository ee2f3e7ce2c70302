import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { PushService } from "../../src/gen/im/v1/push_pb.js";
import { clientAs } from "./clients.js";
import type { FakeApns } from "./fake-apns.js";
import type { FakeFcm } from "./fake-fcm.js";

/** Gives a device an FCM registration: presence keeps a mobile device PushOnline only with one. */
export async function registerPush(baseUrl: string, userId: string, deviceId: string) {
  await clientAs(PushService, baseUrl, userId).registerPushToken({
    deviceId,
    target: { case: "fcm", value: { token: `fcm-${userId}-${deviceId}` } },
  });
}

/** Whether a JetStream consumer has nothing left to deliver or to be acked. */
export async function consumerIdle(natsUrl: string, stream: string, durable: string) {
  const nc = await connect({ servers: natsUrl });
  try {
    const info = await (await jetstreamManager(nc)).consumers.info(stream, durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  } finally {
    await nc.close();
  }
}

/** Server settings that send pushes to the given fakes (key files written to a temp dir). */
export function fakeProvidersEnv(providers: {
  apns?: FakeApns;
  fcm?: FakeFcm;
}): Record<string, string> {
  const { apns, fcm } = providers;
  const dir = mkdtempSync(join(tmpdir(), "push-providers-"));
  const env: Record<string, string> = {};
  if (apns !== undefined) {
    writeFileSync(join(dir, "apns.p8"), apns.signingKeyPem);
    writeFileSync(join(dir, "ca.pem"), apns.caPem);
    Object.assign(env, {
      PUSH_APNS_KEY_FILE: join(dir, "apns.p8"),
      PUSH_APNS_KEY_ID: apns.keyId,
      PUSH_APNS_TEAM_ID: apns.teamId,
      PUSH_APNS_PRODUCTION_URL: apns.url,
      PUSH_APNS_SANDBOX_URL: apns.url,
      PUSH_APNS_CA_FILE: join(dir, "ca.pem"),
    });
  }
  if (fcm !== undefined) {
    writeFileSync(join(dir, "fcm.json"), fcm.serviceAccountJson);
    env.PUSH_FCM_SERVICE_ACCOUNT_FILE = join(dir, "fcm.json");
    env.PUSH_FCM_URL = fcm.url;
  }
  return env;
}
