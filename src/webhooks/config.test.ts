import { describe, expect, it } from "vitest";
import { ConfigError } from "../config/settings.js";
import { DEFAULT_WEBHOOK_TIMEOUT_MS, describeWebhookConfig, readWebhookConfig } from "./config.js";
import { WEBHOOK_EVENT_NAMES } from "./events.js";

const base = { WEBHOOK_URL: "http://127.0.0.1:9000/hook", WEBHOOK_SECRET: "s" };

describe("readWebhookConfig", () => {
  it("is off when nothing is set", () => {
    expect(readWebhookConfig({}, "1400000000")).toBeUndefined();
    expect(readWebhookConfig({ WEBHOOK_URL: "  " }, "1")).toBeUndefined();
  });

  it("reads defaults: all events, 2000 ms", () => {
    const config = readWebhookConfig(base, "1400000000");
    expect(config).toEqual({
      url: "http://127.0.0.1:9000/hook",
      secret: "s",
      enabledEvents: new Set(WEBHOOK_EVENT_NAMES),
      timeoutMs: DEFAULT_WEBHOOK_TIMEOUT_MS,
      appId: "1400000000",
    });
    expect(DEFAULT_WEBHOOK_TIMEOUT_MS).toBe(2000);
  });

  it("reads an event list and a timeout", () => {
    const config = readWebhookConfig(
      { ...base, WEBHOOK_EVENTS: " c2c-before-send, c2c-after-send ,", WEBHOOK_TIMEOUT_MS: "1500" },
      "1",
    );
    expect(config?.enabledEvents).toEqual(new Set(["c2c-before-send", "c2c-after-send"]));
    expect(config?.timeoutMs).toBe(1500);
    expect(readWebhookConfig({ ...base, WEBHOOK_EVENTS: "all" }, "1")?.enabledEvents.size).toBe(
      WEBHOOK_EVENT_NAMES.length,
    );
  });

  it.each([
    [{ WEBHOOK_SECRET: "s" }, "WEBHOOK_URL"],
    [{ WEBHOOK_TIMEOUT_MS: "100" }, "WEBHOOK_URL"],
    [{ ...base, WEBHOOK_URL: "not a url" }, "WEBHOOK_URL"],
    [{ ...base, WEBHOOK_URL: "ftp://x/y" }, "WEBHOOK_URL"],
    [{ WEBHOOK_URL: base.WEBHOOK_URL }, "WEBHOOK_SECRET"],
    [{ ...base, WEBHOOK_EVENTS: "c2c-before-send,c2c-typo" }, "WEBHOOK_EVENTS"],
    [{ ...base, WEBHOOK_TIMEOUT_MS: "2s" }, "WEBHOOK_TIMEOUT_MS"],
    [{ ...base, WEBHOOK_TIMEOUT_MS: "0" }, "WEBHOOK_TIMEOUT_MS"],
    [{ ...base, WEBHOOK_TIMEOUT_MS: "600000" }, "WEBHOOK_TIMEOUT_MS"],
  ])("%o names %s", (env, setting) => {
    let error: unknown;
    try {
      readWebhookConfig(env, "1");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
    expect((error as Error).message).toContain(setting);
  });
});

describe("describeWebhookConfig (the start-up log line)", () => {
  it("says off when no URL is set", () => {
    expect(describeWebhookConfig(undefined).message).toMatch(/^webhooks off/);
  });

  it("says on with host and events, never the secret or the path", () => {
    const config = readWebhookConfig(
      {
        WEBHOOK_URL: "https://hooks.example:8443/im/TOKEN123",
        WEBHOOK_SECRET: "very-secret",
        WEBHOOK_EVENTS: "c2c-before-send,group-after-send",
      },
      "1",
    );
    const line = describeWebhookConfig(config);
    expect(line).toEqual({
      message: "webhooks on",
      fields: {
        webhookHost: "hooks.example:8443",
        webhookEvents: "c2c-before-send,group-after-send",
        webhookTimeoutMs: 2000,
      },
    });
    expect(JSON.stringify(line)).not.toMatch(/very-secret|TOKEN123/);
    expect(describeWebhookConfig(readWebhookConfig(base, "1")).fields.webhookEvents).toBe("all");
  });
});
