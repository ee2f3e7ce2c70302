import { readFileSync } from "node:fs";
import { MAX_COUNTER_WINDOW_MS } from "../bus/window-counters.js";
import { ConfigError, type Env, intSetting, stringSetting } from "../config/settings.js";
import type { ApnsSettings } from "./apns-sender.js";
import type { FcmSettings } from "./fcm-sender.js";
import { loadPrivateKey } from "./jwt.js";
import type { RetryPolicy } from "./retry.js";

export interface PushConfig {
  /** Unset: APNs registrations are kept but nothing is sent to them. */
  apns: ApnsSettings | undefined;
  /** Unset: FCM registrations are kept but nothing is sent to them. */
  fcm: FcmSettings | undefined;
  /** Members per push job of a group message. */
  batchSize: number;
  /** Notifications one process sends at once, per provider. */
  concurrency: number;
  retry: RetryPolicy;
  /** Pushes one user may get per window across the cluster; max 0: no limit. */
  userRate: { max: number; windowMs: number };
  /**
   * Ack wait of the push work consumer: how soon a job of a dead process is taken
   * over. A job being worked renews it (bus renewal) up to `jobMaxMs`.
   */
  jobAckWaitMs: number;
  /** A job still running this long is taken for hung (a stuck provider) and handed to another process. */
  jobMaxMs: number;
  /** How long a delivery claim (message or task, and device) is kept: longer than any redelivery. */
  claimRetentionMs: number;
  broadcast: BroadcastSettings;
}

/** Push to all / by tag / by attribute. */
export interface BroadcastSettings {
  /** Users per batch of a broadcast task. */
  batchSize: number;
  /** Users a broadcast task processes per second at most (its batches are paced to it). */
  usersPerSecond: number;
  /** Tags one user may have (the reference's Tencent Cloud Chat REST API: 10). */
  tagsPerUserMax: number;
  /** Bytes of one tag. */
  tagMaxBytes: number;
  /** Attributes one user may have. */
  attributesPerUserMax: number;
  /** Bytes of one attribute key or value. */
  attributeMaxBytes: number;
  /** Users one label request may name. */
  usersPerRequestMax: number;
}

const MINUTE = 60_000;

/**
 * Reads the PUSH_* settings. A provider is on when its credentials are set;
 * a half-set provider (key without team id, unreadable key file, a service
 * account without its fields) stops start-up with the setting named.
 */
export function readPushConfig(env: Env): PushConfig {
  const requestTimeoutMs = intSetting(env, "PUSH_REQUEST_TIMEOUT_MS", 10_000, {
    min: 100,
    max: 120_000,
  });
  return {
    apns: readApns(env, requestTimeoutMs),
    fcm: readFcm(env, requestTimeoutMs),
    batchSize: intSetting(env, "PUSH_BATCH_SIZE", 500, { min: 1, max: 10_000 }),
    concurrency: intSetting(env, "PUSH_CONCURRENCY", 32, { min: 1, max: 1_000 }),
    retry: {
      maxAttempts: intSetting(env, "PUSH_MAX_ATTEMPTS", 3, { min: 1, max: 20 }),
      backoffMs: intSetting(env, "PUSH_BACKOFF_MS", 500, { min: 0, max: 60_000 }),
      maxBackoffMs: intSetting(env, "PUSH_MAX_BACKOFF_MS", 5_000, { min: 0, max: 60_000 }),
    },
    userRate: {
      max: intSetting(env, "PUSH_USER_RATE_MAX", 0, { min: 0, max: 1_000_000 }),
      windowMs: intSetting(env, "PUSH_USER_RATE_WINDOW_MS", 60_000, {
        min: 1_000,
        max: MAX_COUNTER_WINDOW_MS,
      }),
    },
    ...readJobTimes(env),
    claimRetentionMs: intSetting(env, "PUSH_CLAIM_RETENTION_MS", 86_400_000, {
      min: 600_000,
      max: 30 * 86_400_000,
    }),
    broadcast: readBroadcast(env),
  };
}

function readJobTimes(env: Env): Pick<PushConfig, "jobAckWaitMs" | "jobMaxMs"> {
  const jobAckWaitMs = intSetting(env, "PUSH_JOB_ACK_WAIT_MS", 5_000, { min: 500, max: 300_000 });
  const jobMaxMs = intSetting(env, "PUSH_JOB_MAX_MS", 120_000, { min: 1_000, max: 3_600_000 });
  if (jobMaxMs < jobAckWaitMs) {
    throw new ConfigError("PUSH_JOB_MAX_MS", "must be at least PUSH_JOB_ACK_WAIT_MS");
  }
  return { jobAckWaitMs, jobMaxMs };
}

/** A paced batch must end well within the bus's ack wait (30 s), or it would be redelivered while it runs. */
const MAX_BATCH_PACING_MS = 10_000;

function readBroadcast(env: Env): BroadcastSettings {
  const settings: BroadcastSettings = {
    batchSize: intSetting(env, "BROADCAST_BATCH_SIZE", 500, { min: 1, max: 10_000 }),
    usersPerSecond: intSetting(env, "BROADCAST_USERS_PER_SECOND", 5_000, {
      min: 1,
      max: 1_000_000,
    }),
    tagsPerUserMax: intSetting(env, "BROADCAST_TAGS_PER_USER_MAX", 10, { min: 1, max: 1_000 }),
    tagMaxBytes: intSetting(env, "BROADCAST_TAG_MAX_BYTES", 50, { min: 1, max: 1_000 }),
    attributesPerUserMax: intSetting(env, "BROADCAST_ATTRIBUTES_PER_USER_MAX", 10, {
      min: 1,
      max: 1_000,
    }),
    attributeMaxBytes: intSetting(env, "BROADCAST_ATTRIBUTE_MAX_BYTES", 50, { min: 1, max: 1_000 }),
    usersPerRequestMax: intSetting(env, "BROADCAST_USERS_PER_REQUEST_MAX", 500, {
      min: 1,
      max: 10_000,
    }),
  };
  if ((settings.batchSize * 1000) / settings.usersPerSecond > MAX_BATCH_PACING_MS) {
    throw new ConfigError(
      "BROADCAST_USERS_PER_SECOND",
      `must be at least BROADCAST_BATCH_SIZE / ${MAX_BATCH_PACING_MS / 1000} (a batch may take at most ${MAX_BATCH_PACING_MS / 1000} s)`,
    );
  }
  return settings;
}

function readFile(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(name, `cannot read ${path}: ${(err as Error).message}`);
  }
}

function url(env: Env, name: string, fallback: string): string {
  const raw = stringSetting(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a URL: "${raw}"`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new ConfigError(name, "must be https:// (or http:// for a local test server)");
  }
  return parsed.origin;
}

function readApns(env: Env, requestTimeoutMs: number): ApnsSettings | undefined {
  const keyFile = stringSetting(env, "PUSH_APNS_KEY_FILE");
  const keyId = stringSetting(env, "PUSH_APNS_KEY_ID");
  const teamId = stringSetting(env, "PUSH_APNS_TEAM_ID");
  if (keyFile === undefined) {
    if (keyId !== undefined || teamId !== undefined) {
      throw new ConfigError("PUSH_APNS_KEY_FILE", "required when PUSH_APNS_* settings are set");
    }
    return undefined;
  }
  if (keyId === undefined)
    throw new ConfigError("PUSH_APNS_KEY_ID", "required with PUSH_APNS_KEY_FILE");
  if (teamId === undefined) {
    throw new ConfigError("PUSH_APNS_TEAM_ID", "required with PUSH_APNS_KEY_FILE");
  }
  let key: ApnsSettings["key"];
  try {
    key = loadPrivateKey(readFile("PUSH_APNS_KEY_FILE", keyFile), "ec-p256", "PUSH_APNS_KEY_FILE");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError("PUSH_APNS_KEY_FILE", (err as Error).message);
  }
  const caFile = stringSetting(env, "PUSH_APNS_CA_FILE");
  return {
    key,
    keyId,
    teamId,
    productionUrl: url(env, "PUSH_APNS_PRODUCTION_URL", "https://api.push.apple.com"),
    sandboxUrl: url(env, "PUSH_APNS_SANDBOX_URL", "https://api.sandbox.push.apple.com"),
    ca: caFile === undefined ? undefined : readFile("PUSH_APNS_CA_FILE", caFile),
    tokenRefreshMs: intSetting(env, "PUSH_APNS_TOKEN_REFRESH_MS", 50 * MINUTE, {
      min: 20 * MINUTE,
      max: 59 * MINUTE,
    }),
    requestTimeoutMs,
    expirationMs: intSetting(env, "PUSH_APNS_EXPIRATION_MS", 24 * 60 * MINUTE, {
      min: 0,
      max: 30 * 24 * 60 * MINUTE,
    }),
  };
}

function readFcm(env: Env, requestTimeoutMs: number): FcmSettings | undefined {
  const file = stringSetting(env, "PUSH_FCM_SERVICE_ACCOUNT_FILE");
  if (file === undefined) return undefined;
  const name = "PUSH_FCM_SERVICE_ACCOUNT_FILE";
  let account: Record<string, unknown>;
  try {
    account = JSON.parse(readFile(name, file)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(name, "not a service-account JSON file");
  }
  const field = (key: string): string => {
    const v = account[key];
    if (typeof v !== "string" || v === "") throw new ConfigError(name, `missing "${key}"`);
    return v;
  };
  let key: FcmSettings["key"];
  try {
    key = loadPrivateKey(field("private_key"), "rsa", name);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(name, (err as Error).message);
  }
  const tokenUri = typeof account.token_uri === "string" ? account.token_uri : undefined;
  return {
    projectId: stringSetting(env, "PUSH_FCM_PROJECT_ID") ?? field("project_id"),
    clientEmail: field("client_email"),
    key,
    // The token endpoint is the JWT audience too, so keep its full URL (path included).
    tokenUrl:
      stringSetting(env, "PUSH_FCM_TOKEN_URL") ?? tokenUri ?? "https://oauth2.googleapis.com/token",
    fcmUrl: url(env, "PUSH_FCM_URL", "https://fcm.googleapis.com"),
    requestTimeoutMs,
  };
}
