import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApnsEnvironment, PushService } from "../../src/gen/im/v1/push_pb.js";
import { BACKENDS, type Harness, startHarness } from "../relations/harness.js";
import { clientAs, failureOf } from "../support/clients.js";

const HEX = "ab".repeat(32);

describe.each(BACKENDS)("PushService registrations on %s", (_backend, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(env());
  });
  afterAll(() => h.app.close());
  const push = (userId: string) => clientAs(PushService, h.app.baseUrl, userId);
  const regsOf = async (userIds: string[]) =>
    (await h.app.storage.pushTokens.selectPushRegistrations(userIds))
      .map((r) => `${r.userId}/${r.deviceId}=${r.target.channel}:${r.target.token}`)
      .sort();

  it("registers APNs and FCM targets per device, replaces and unregisters them", async () => {
    const [a] = await h.users(1);
    await push(a!).registerPushToken({
      deviceId: "iphone",
      target: {
        case: "apns",
        value: {
          token: HEX.toUpperCase(),
          environment: ApnsEnvironment.SANDBOX,
          bundleId: "com.x.app",
        },
      },
    });
    await push(a!).registerPushToken({
      deviceId: "pixel",
      target: { case: "fcm", value: { token: "fcm:tok-1" } },
    });
    const [apns] = await h.app.storage.pushTokens
      .selectPushRegistrations([a!])
      .then((r) => r.filter((x) => x.deviceId === "iphone"));
    // Hex tokens are stored in one case, so either spelling is one registration.
    expect(apns?.target).toEqual({
      channel: "apns",
      token: HEX,
      environment: "sandbox",
      bundleId: "com.x.app",
    });
    await push(a!).registerPushToken({
      deviceId: "pixel",
      target: { case: "fcm", value: { token: "fcm:tok-2" } },
    });
    expect(await regsOf([a!])).toEqual([`${a}/iphone=apns:${HEX}`, `${a}/pixel=fcm:fcm:tok-2`]);
    expect((await push(a!).unregisterPushToken({ deviceId: "pixel" })).removed).toBe(true);
    expect((await push(a!).unregisterPushToken({ deviceId: "pixel" })).removed).toBe(false);
    expect(await regsOf([a!])).toEqual([`${a}/iphone=apns:${HEX}`]);
  });

  it("moves a token registered by another user away from the first", async () => {
    const [a, b] = await h.users(2);
    const target = { case: "fcm" as const, value: { token: "shared-handset" } };
    await push(a!).registerPushToken({ deviceId: "d", target });
    await push(b!).registerPushToken({ deviceId: "d2", target });
    expect(await regsOf([a!, b!])).toEqual([`${b}/d2=fcm:shared-handset`]);
  });

  it("rejects bad registrations, naming the field", async () => {
    const [a] = await h.users(1);
    const cases: [Parameters<ReturnType<typeof push>["registerPushToken"]>[0], string][] = [
      [{ deviceId: "", target: { case: "fcm", value: { token: "t" } } }, "device_id"],
      [{ deviceId: "d" }, "target"],
      [
        {
          deviceId: "d",
          target: { case: "apns", value: { token: "xyz", environment: 1, bundleId: "a.b" } },
        },
        "apns.token",
      ],
      [
        { deviceId: "d", target: { case: "apns", value: { token: HEX, bundleId: "a.b" } } },
        "apns.environment",
      ],
      [
        { deviceId: "d", target: { case: "apns", value: { token: HEX, environment: 2 } } },
        "apns.bundle_id",
      ],
      [{ deviceId: "d", target: { case: "fcm", value: { token: "" } } }, "fcm.token"],
    ];
    for (const [req, field] of cases) {
      const f = await failureOf(push(a!).registerPushToken(req));
      expect([f.code, f.field]).toEqual([Code.InvalidArgument, field]);
    }
    expect(await regsOf([a!])).toEqual([]);
  });
});
