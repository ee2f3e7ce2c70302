import { describe, expect, it } from "vitest";
import { DEV_SECRET_KEY, readConfig } from "./config.js";
import { ConfigError, flagsToEnv } from "./settings.js";

const errorOf = (env: Record<string, string>): ConfigError => {
  try {
    readConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
};

describe("readConfig", () => {
  it("defaults to the embedded backends and the dev key", () => {
    const c = readConfig({});
    expect(c.mongo).toBeUndefined();
    expect(c.nats).toBeUndefined();
    expect(c.port).toBe(8080);
    expect(c.secretKey).toBe(DEV_SECRET_KEY);
    expect(c.devSecretKey).toBe(true);
    expect([...c.adminUserIds]).toEqual(["administrator"]);
  });

  it("reads the metrics listener and the OTLP traces endpoint (standard OTEL_ variables)", () => {
    expect(readConfig({}).metrics).toBeUndefined();
    expect(readConfig({}).tracing).toBeUndefined();
    expect(readConfig({ METRICS_PORT: "9464", METRICS_HOST: "0.0.0.0" }).metrics).toEqual({
      host: "0.0.0.0",
      port: 9464,
    });
    expect(readConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4318/" }).tracing).toEqual({
      url: "http://otel:4318/v1/traces",
      serviceName: "im-server",
    });
    expect(
      readConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://c.example/t",
        OTEL_SERVICE_NAME: "im-eu",
      }).tracing,
    ).toEqual({ url: "https://c.example/t", serviceName: "im-eu" });
    expect(errorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "otel:4318" }).setting).toBe(
      "OTEL_EXPORTER_OTLP_ENDPOINT",
    );
    expect(errorOf({ METRICS_PORT: "70000" }).setting).toBe("METRICS_PORT");
  });

  it("reads backends and admins", () => {
    const c = readConfig({
      MONGO_URL: "mongodb://db:27017",
      NATS_URL: "nats://bus:4222",
      ADMIN_USER_IDS: "root, ops",
      APP_SECRET_KEY: "k",
    });
    expect(c.mongo).toEqual({
      url: "mongodb://db:27017",
      database: "im",
      monitorCommands: false,
      writeConcern: "majority",
      writeConcernTimeoutMs: 10_000,
    });
    expect(c.nats).toEqual({
      url: "nats://bus:4222",
      namespace: "im",
      streamReplicas: 1,
      streamReplicasOf: {},
    });
    expect([...c.adminUserIds]).toEqual(["root", "ops"]);
    expect(c.devSecretKey).toBe(false);
  });

  it("reads a NATS cluster, replicas per stream class and the Mongo write concern", () => {
    const c = readConfig({
      MONGO_URL: "mongodb://a:27017,b:27017/?replicaSet=rs0",
      MONGO_WRITE_CONCERN: "2",
      NATS_URL: "nats://n1:4222, nats://n2:4222,n3:4222",
      NATS_STREAM_REPLICAS: "3",
      NATS_STREAM_REPLICAS_MESSAGES: "5",
      NATS_STREAM_REPLICAS_KV: "1",
      NATS_STREAM_REPLICAS_COUNTERS: "1",
    });
    expect(c.mongo?.writeConcern).toBe(2);
    expect(c.nats).toEqual({
      url: "nats://n1:4222, nats://n2:4222,n3:4222",
      namespace: "im",
      streamReplicas: 3,
      streamReplicasOf: { messages: 5, kv: 1, counters: 1 },
    });
  });

  it.each([
    [{ PORT: "http" }, "PORT", "expected an integer"],
    [{ PORT: "70000" }, "PORT", "between 0 and 65535"],
    [{ APP_ID: "0" }, "APP_ID", "between 1"],
    [{ ADMIN_USER_IDS: "ok,not ok" }, "ADMIN_USER_IDS", '"not ok" is not a valid user id'],
    [{ MONGO_URL: "localhost:27017" }, "MONGO_URL", "mongodb://"],
    [{ NATS_URL: "http://x" }, "NATS_URL", "nats://"],
    [{ NATS_URL: "nats://a:1,http://b:2" }, "NATS_URL", '"http://b:2"'],
    [
      { NATS_URL: "nats://a:1", NATS_STREAM_REPLICAS: "6" },
      "NATS_STREAM_REPLICAS",
      "between 1 and 5",
    ],
    [
      { NATS_URL: "nats://a:1", NATS_STREAM_REPLICAS_MESSAGES: "0" },
      "NATS_STREAM_REPLICAS_MESSAGES",
      "between 1 and 5",
    ],
    [{ MONGO_URL: "mongodb://x", MONGO_WRITE_CONCERN: "most" }, "MONGO_WRITE_CONCERN", "majority"],
    [{ NATS_URL: "nats://x:4222", NATS_NAMESPACE: "bad.ns" }, "NATS_NAMESPACE", "[A-Za-z0-9_-]"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL", "one of debug, info, warn, error"],
    [{ TLS_CERT_FILE: "/nonexistent.pem", TLS_KEY_FILE: "/k.pem" }, "TLS_CERT_FILE", "cannot read"],
    [{ TLS_KEY_FILE: "/k.pem" }, "TLS_CERT_FILE", "required with TLS_KEY_FILE"],
    [
      {
        WEBHOOK_URL: "http://hook",
        WEBHOOK_SECRET: "s",
        WEBHOOK_TIMEOUT_MS: "5000",
        MESSAGE_CLAIM_LEASE_MS: "6000",
      },
      "MESSAGE_CLAIM_LEASE_MS",
      "must exceed WEBHOOK_TIMEOUT_MS (5000)",
    ],
    [{ REQUEST_MAX_BYTES: "4096" }, "REQUEST_MAX_BYTES", "at least MESSAGE_MAX_BYTES (12288)"],
    [
      { REQUEST_MAX_BYTES: "200000", BATCH_REQUEST_MAX_BYTES: "100000" },
      "BATCH_REQUEST_MAX_BYTES",
      "at least REQUEST_MAX_BYTES (200000)",
    ],
    [{ MAX_CONNECTIONS: "0" }, "MAX_CONNECTIONS", "between 1"],
  ])("rejects %j naming %s", (env, setting, text) => {
    const err = errorOf(env);
    expect(err.setting).toBe(setting);
    expect(err.message).toContain(setting);
    expect(err.message).toContain(text);
  });
});

describe("transport limits", () => {
  it("derive the request limit from the message limit", () => {
    expect(readConfig({}).transport.requestMaxBytes).toBe(64 * 1024);
    expect(readConfig({ MESSAGE_MAX_BYTES: "65536" }).transport.requestMaxBytes).toBe(4 * 65536);
    expect(readConfig({}).transport.batchRequestMaxBytes).toBe(1024 * 1024);
  });
});

describe("flagsToEnv", () => {
  it("maps --kebab-flags to settings, both spellings", () => {
    expect(flagsToEnv(["--port=9000", "--mongo-url", "mongodb://x"])).toEqual({
      PORT: "9000",
      MONGO_URL: "mongodb://x",
    });
  });
  it("checks for idle memory to give back every 5 s unless turned off", () => {
    expect(readConfig({}).youngGenerationCheckMs).toBe(5000);
    expect(readConfig({ YOUNG_GENERATION_CHECK_MS: "0" }).youngGenerationCheckMs).toBe(0);
    expect(errorOf({ YOUNG_GENERATION_CHECK_MS: "-1" }).setting).toBe("YOUNG_GENERATION_CHECK_MS");
  });

  it("rejects stray arguments and flags without values", () => {
    expect(() => flagsToEnv(["serve"])).toThrow(ConfigError);
    expect(() => flagsToEnv(["--port"])).toThrow(/flag needs a value/);
  });
});
