import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../config/settings.js";
import { readPushConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "push-config-"));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const ec = file(
  "ec.p8",
  generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString(),
);
const rsaPem = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const rsa = file("rsa.pem", rsaPem);
const account = (fields: Record<string, string>) =>
  file(`sa-${Object.keys(fields).join("-")}.json`, JSON.stringify(fields));

const settingOf = (env: Record<string, string>): string => {
  try {
    readPushConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.setting;
    throw err;
  }
  return "ok";
};

describe("push settings", () => {
  it("leaves both providers off by default", () => {
    const config = readPushConfig({});
    expect([config.apns, config.fcm]).toEqual([undefined, undefined]);
    expect(config.retry).toEqual({ maxAttempts: 3, backoffMs: 500, maxBackoffMs: 5000 });
    expect([config.jobAckWaitMs, config.jobMaxMs]).toEqual([5_000, 120_000]);
  });

  it("refuses a job bound shorter than the job ack wait", () => {
    expect(settingOf({ PUSH_JOB_ACK_WAIT_MS: "9000", PUSH_JOB_MAX_MS: "8000" })).toBe(
      "PUSH_JOB_MAX_MS",
    );
    expect(settingOf({ PUSH_JOB_ACK_WAIT_MS: "9000", PUSH_JOB_MAX_MS: "9000" })).toBe("ok");
  });

  it.each([
    [{ PUSH_APNS_KEY_ID: "K" }, "PUSH_APNS_KEY_FILE"],
    [{ PUSH_APNS_KEY_FILE: ec, PUSH_APNS_TEAM_ID: "T" }, "PUSH_APNS_KEY_ID"],
    [{ PUSH_APNS_KEY_FILE: ec, PUSH_APNS_KEY_ID: "K" }, "PUSH_APNS_TEAM_ID"],
    [
      { PUSH_APNS_KEY_FILE: "/nonexistent.p8", PUSH_APNS_KEY_ID: "K", PUSH_APNS_TEAM_ID: "T" },
      "PUSH_APNS_KEY_FILE",
    ],
    [
      { PUSH_APNS_KEY_FILE: rsa, PUSH_APNS_KEY_ID: "K", PUSH_APNS_TEAM_ID: "T" },
      "PUSH_APNS_KEY_FILE",
    ],
    [{ PUSH_APNS_KEY_FILE: ec, PUSH_APNS_KEY_ID: "K", PUSH_APNS_TEAM_ID: "T" }, "ok"],
    [{ PUSH_FCM_SERVICE_ACCOUNT_FILE: file("bad.json", "{") }, "PUSH_FCM_SERVICE_ACCOUNT_FILE"],
    [
      { PUSH_FCM_SERVICE_ACCOUNT_FILE: account({ project_id: "p", private_key: rsaPem }) },
      "PUSH_FCM_SERVICE_ACCOUNT_FILE",
    ],
    [
      {
        PUSH_FCM_SERVICE_ACCOUNT_FILE: account({
          project_id: "p",
          client_email: "e",
          private_key: rsaPem,
        }),
        PUSH_FCM_URL: "ftp://x",
      },
      "PUSH_FCM_URL",
    ],
    [
      {
        PUSH_FCM_SERVICE_ACCOUNT_FILE: account({
          project_id: "p",
          client_email: "e",
          private_key: rsaPem,
        }),
      },
      "ok",
    ],
  ])("%o → %s", (env, setting) => {
    expect(settingOf(env)).toBe(setting);
  });

  it("refuses a broadcast pace that would make one batch outlast the bus's ack wait", () => {
    expect(() =>
      readPushConfig({ BROADCAST_BATCH_SIZE: "500", BROADCAST_USERS_PER_SECOND: "10" }),
    ).toThrow(/BROADCAST_USERS_PER_SECOND/);
    expect(
      readPushConfig({ BROADCAST_BATCH_SIZE: "500", BROADCAST_USERS_PER_SECOND: "50" }).broadcast
        .usersPerSecond,
    ).toBe(50);
  });
});
