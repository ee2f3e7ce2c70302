import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Platform } from "../../src/gen/im/v1/events_pb.js";
import { UserStateAction } from "../../src/gen/im/v1/webhook_pb.js";
import {
  decodeWebhookRequest,
  verifySignature,
  WEBHOOK_EVENT_NAMES,
} from "../../src/webhooks/index.js";
import { replyJson, startTestServer, type TestServer } from "../../src/webhooks/test-server.js";
import { TEST_APP_ID, TEST_SECRET_KEY } from "../../test/support/clients.js";
import { eventually } from "../../test/support/eventually.js";
import { ADMIN, startTestApp, type TestApp } from "../../test/support/test-app.js";
import { runCli } from "./cli.js";
import { testIo } from "./test-helpers.js";

// trigger against a real server (in-memory backends) whose webhook points at a real endpoint:
// what arrives is the server's own signed request.
const SECRET = "trigger-secret";

describe("webhook-sim trigger", () => {
  let endpoint: TestServer;
  let app: TestApp;
  const env = {
    APP_ID: String(TEST_APP_ID),
    APP_SECRET_KEY: TEST_SECRET_KEY,
    ADMIN_USER_IDS: ADMIN,
  };

  beforeAll(async () => {
    endpoint = await startTestServer((_req, res) =>
      replyJson(res, { action: "BEFORE_SEND_ACTION_ALLOW" }),
    );
    app = await startTestApp({ WEBHOOK_URL: endpoint.url, WEBHOOK_SECRET: SECRET });
  });
  afterAll(async () => {
    await app.close();
    await endpoint.close();
  });

  const trigger = async (...args: string[]) => {
    const { io, stdout, stderr } = testIo({ env });
    const code = await runCli(["trigger", ...args, "--server", app.baseUrl], io);
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };
  const arrived = (command: string) =>
    eventually(async () => {
      const hit = endpoint.received.find((r) => r.headers["x-im-command"] === command);
      expect(hit).toBeDefined();
      return hit as NonNullable<typeof hit>;
    });

  it("c2c.before-send: the send goes through the server, accounts created, the request is signed", async () => {
    const result = await trigger(
      "c2c.before-send",
      "--from",
      "alice",
      "--to",
      "bob",
      "--text",
      "hi bob",
    );
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain("created accounts alice, bob");
    const req = await arrived("c2c-before-send");
    const check = verifySignature({
      secret: SECRET,
      body: req.body,
      header: (name) => req.headers[name] as string | undefined,
      nowMs: Date.now(),
    });
    expect(check).toEqual({ ok: true });
    const event = decodeWebhookRequest(req.body).event;
    expect(event.case).toBe("c2cBeforeSend");
    if (event.case === "c2cBeforeSend") {
      expect(event.value).toMatchObject({ fromAccount: "alice", toAccount: "bob" });
    }
    await arrived("c2c-after-send");
    // Accounts are only created once.
    expect((await trigger("c2c-before-send")).stdout).not.toContain("created accounts");
  });

  it.each(WEBHOOK_EVENT_NAMES.filter((n) => n.startsWith("group-")))(
    "%s reaches the endpoint",
    async (name) => {
      const result = await trigger(name, "--from", "gowner", "--to", "gmember", "--group", "trig");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      await arrived(name);
    },
  );

  it("c2c-after-recall reaches the endpoint", async () => {
    const result = await trigger("c2c.after-recall", "--from", "rfrom", "--to", "rto");
    expect([result.stderr, result.code]).toEqual(["", 0]);
    const event = decodeWebhookRequest((await arrived("c2c-after-recall")).body).event;
    expect(event.case === "c2cAfterRecall" && event.value.recalledByAccount).toBe(ADMIN);
  });

  it("c2c-before-edit reaches the endpoint", async () => {
    const result = await trigger(
      "c2c.before-edit",
      "--from",
      "efrom",
      "--to",
      "eto",
      "--text",
      "hi",
    );
    expect([result.stderr, result.code]).toEqual(["", 0]);
    const event = decodeWebhookRequest((await arrived("c2c-before-edit")).body).event;
    expect(event.case === "c2cBeforeEdit" && event.value.editVersion).toBe(1);
  });

  it("user-after-state-change: a device logs in and out; the requests say so, signed", async () => {
    const result = await trigger("user-after-state-change");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const states = await eventually(async () => {
      const got = endpoint.received
        .filter((r) => r.headers["x-im-command"] === "user-after-state-change")
        .map((r) => decodeWebhookRequest(r.body).event)
        .flatMap((e) => (e.case === "userAfterStateChange" ? [e.value] : []));
      expect(got).toHaveLength(2);
      return got;
    });
    expect(states.map((s) => [s.userAccount, s.platform, s.action, s.reason])).toEqual([
      [ADMIN, Platform.WEB, UserStateAction.LOGIN, ""],
      [ADMIN, Platform.WEB, UserStateAction.LOGOUT, "LOGOUT"],
    ]);
  });

  it("an unknown event is a usage error", async () => {
    expect((await trigger("c2c.sent")).code).toBe(2);
  });
});
