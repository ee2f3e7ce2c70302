import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { Platform } from "../../src/gen/im/v1/events_pb.js";
import { PresenceService } from "../../src/gen/im/v1/presence_pb.js";
import { UserStateAction } from "../../src/gen/im/v1/webhook_pb.js";
import { clientAs, sigFor } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { registerPush } from "../support/push.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";
import { type SimServe, scratchDir, startSimServeProcess } from "../support/webhook-sim.js";

// The state-change webhook against `webhook-sim serve` (the CLI a developer runs): every
// login, logout, disconnect and kick arrives signed, and serve's verdict is the server's.
const SECRET = "presence-webhook-secret";
let serve: SimServe;
let app: TestApp;
let dir: Awaited<ReturnType<typeof scratchDir>>;
beforeAll(async () => {
  dir = await scratchDir();
  serve = await startSimServeProcess({
    rules: { rules: [] },
    secret: SECRET,
    timeoutMs: 2000,
    recordPath: dir.file("state.jsonl"),
  });
  app = await startTestApp({
    WEBHOOK_URL: serve.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_EVENTS: "user-after-state-change",
  });
  await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "sam" }],
  });
});
afterAll(async () => {
  await app?.close();
  await serve?.stop();
  await dir?.remove();
});

const stream = (deviceId: string, platform: Platform) =>
  openStream(app.baseUrl, "sam", deviceId, "connect-h2", sigFor("sam"), platform);

it("reports login, disconnect, kick and logout with user, device, platform and reason", async () => {
  await registerPush(app.baseUrl, "sam", "sam-phone");
  const phone = await stream("sam-phone", Platform.ANDROID);
  phone.close();
  await eventually(async () => expect((await serve.recorded()).length).toBe(2));
  const mac = await stream("sam-mac", Platform.MACOS);
  // Under the default (dual) policy a Windows login kicks the Mac, and signs out the PushOnline phone.
  const win = await stream("sam-win", Platform.WINDOWS);
  await mac.ended;
  await clientAs(PresenceService, app.baseUrl, "sam").logout({ deviceId: "sam-win" });
  await win.ended;
  const facts = await eventually(async () => {
    const recorded = await serve.recorded();
    expect(recorded.length).toBe(7);
    return recorded;
  });
  expect(new Set(facts.map((r) => [r.name, r.verdict].join(" ")))).toEqual(
    new Set(["user-after-state-change acknowledged"]),
  );
  const rows = facts.map((r) => {
    const e = r.request.event;
    if (e.case !== "userAfterStateChange") throw new Error(`unexpected ${e.case}`);
    return [
      e.value.userAccount,
      e.value.deviceId,
      e.value.platform,
      e.value.action,
      e.value.reason,
    ];
  });
  const { LOGIN, LOGOUT, DISCONNECT, KICKED } = UserStateAction;
  // Requests are sent without waiting for each other: compare as a sorted list.
  const sorted = (list: unknown[][]) => list.map((r) => JSON.stringify(r)).sort();
  expect(sorted(rows)).toEqual(
    sorted([
      ["sam", "sam-phone", Platform.ANDROID, LOGIN, ""],
      ["sam", "sam-phone", Platform.ANDROID, DISCONNECT, "STREAM_CLOSED"],
      ["sam", "sam-mac", Platform.MACOS, LOGIN, ""],
      ["sam", "sam-phone", Platform.ANDROID, KICKED, "LOGIN_ELSEWHERE"],
      ["sam", "sam-mac", Platform.MACOS, KICKED, "LOGIN_ELSEWHERE"],
      ["sam", "sam-win", Platform.WINDOWS, LOGIN, ""],
      // One event for the logout; the stream it ended adds none.
      ["sam", "sam-win", Platform.WINDOWS, LOGOUT, "LOGOUT"],
    ]),
  );
});
