import { readFileSync } from "node:fs";
import { MAX_STREAM_REPLICAS, type ReplicaClass, replicaClasses } from "../bus/index.js";
import { isValidUserId } from "../common/user-id.js";
import type { MessageLimits } from "../conversations/validate-body.js";
import { type GroupConfig, readGroupConfig } from "../groups/config.js";
import type { LogLevel } from "../log/logger.js";
import { type PresenceConfig, readPresenceConfig } from "../presence/config.js";
import { type CustomFieldDef, parseCustomFieldSpecs } from "../profiles/custom-fields.js";
import { type PushConfig, readPushConfig } from "../push/config.js";

import { type RateLimitSettings, readRateLimitSettings } from "../rate-limits/settings.js";
import { type ReceiptSettings, readReceiptSettings } from "../receipts/settings.js";
import { readWebhookConfig, type WebhookConfig } from "../webhooks/index.js";
import {
  booleanSetting,
  ConfigError,
  type Env,
  enumSetting,
  intSetting,
  listSetting,
  stringSetting,
} from "./settings.js";
import { readTransportLimits, type TransportLimits } from "./transport-limits.js";

/** Used when APP_SECRET_KEY is unset, so the README's run command works as is; logged loudly. */
export const DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production";
export const DEV_APP_ID = 1400000000;

export interface Config {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  appId: number;
  secretKey: string;
  /** True when running on DEV_SECRET_KEY. */
  devSecretKey: boolean;
  adminUserIds: ReadonlySet<string>;
  /** Unset: in-memory storage (not durable). */
  mongo:
    | {
        url: string;
        database: string;
        /** Count the driver's commands, logged on SIGUSR2 (benchmarks); default off. */
        monitorCommands: boolean;
        /** Write concern of every write: "majority" (default) or a member count. */
        writeConcern: "majority" | number;
        /** Bound on waiting for the write concern. */
        writeConcernTimeoutMs: number;
      }
    | undefined;
  /** Unset: in-process bus (single node). */
  nats:
    | {
        /** One server or a cluster's servers, comma-separated. */
        url: string;
        namespace: string;
        /** JetStream copies of each stream; `replicasOf` overrides it per stream class. */
        streamReplicas: number;
        streamReplicasOf: Partial<Record<ReplicaClass, number>>;
      }
    | undefined;
  logLevel: LogLevel;
  /** How long shutdown waits for in-flight calls before closing connections. */
  shutdownGraceMs: number;
  /** Clock skew tolerated for UserSigs issued in the future. */
  userSigMaxSkewSec: number;
  /** UserSigs whose signature verified, kept until expiry so a call skips the inflate and HMAC. */
  verifiedSigsMax: number;
  /** Accounts per import/delete/check call (reference: 100). */
  accountBatchMax: number;
  /**
   * How often an idle server checks whether to give back the young generation a
   * burst grew (src/memory/young-generation-release.ts); 0: never.
   */
  youngGenerationCheckMs: number;
  /** Group type defaults and limits (GROUP_*), see src/groups/config.ts. */
  groups: GroupConfig;
  /** Profiles (see src/profiles). */
  profiles: {
    /** Custom profile fields (PROFILE_CUSTOM_FIELDS); none by default. */
    customFields: CustomFieldDef[];
    /** Users per profile get/import call. */
    batchMax: number;
  };
  /** Relationship chain limits (reference "Use Limits"). */
  relations: {
    /** Friends per user (reference: 3,000). */
    friendMax: number;
    /** Pending friend requests per user, sent and received each (reference: 100). */
    pendingRequestMax: number;
    /** Friend lists per user (reference: 32). */
    friendListMax: number;
    /** Blocked users per user (reference: 1,000). */
    blocklistMax: number;
    /** Users per friend import/delete/check and blocklist call (reference import: 1,000). */
    batchMax: number;
    /** Custom friend fields (FRIEND_CUSTOM_FIELDS); none by default. */
    customFields: CustomFieldDef[];
  };
  messaging: MessagingSettings;
  /** Hot-path read caches invalidated over the bus (src/caches). */
  lookupCache: { ttlMs: number; maxEntries: number };

  /** Per-user rate limits (RATE_LIMIT_*), shared by every node. */
  rateLimits: RateLimitSettings;
  /** Delivered and read receipts. */
  receipts: ReceiptSettings;
  /** Keyword moderation (KEYWORDS_FILE); unset: off. */
  keywordsFile: string | undefined;

  /** Online status and the multi-device login policy (PRESENCE_*), see src/presence. */
  presence: PresenceConfig;
  /** Request sizes, connection and HTTP/2 limits and timeouts (README "Limits"). */
  transport: TransportLimits;
  /** Unset: webhooks are off. */
  webhook: WebhookConfig | undefined;
  /** Offline push providers and delivery (PUSH_*), see src/push/config.ts. */
  push: PushConfig;
  /** Prometheus metrics on their own port (METRICS_PORT); unset or 0: off. */
  metrics: { host: string; port: number } | undefined;
  /** OTLP/HTTP trace export (OTEL_EXPORTER_OTLP_ENDPOINT); unset: tracing is off. */
  tracing: { url: string; serviceName: string } | undefined;
  /** Who may send one-to-one messages to whom (admin sends bypass both). */
  c2cPolicy: {
    /** Only two-way friends may message each other; default: strangers may too. */
    friendsOnly: boolean;
    /** A message to a user who blocked the sender: refused with SENDER_BLOCKED, or acked but dropped. */
    blockedSend: "reject" | "drop-silently";
  };
}

export function readConfig(env: Env): Config {
  const secretKey = stringSetting(env, "APP_SECRET_KEY");
  const adminUserIds = listSetting(env, "ADMIN_USER_IDS", ["administrator"]);
  const badAdmin = adminUserIds.find((id) => !isValidUserId(id));
  if (badAdmin !== undefined) {
    throw new ConfigError("ADMIN_USER_IDS", `"${badAdmin}" is not a valid user id`);
  }
  const mongoUrl = stringSetting(env, "MONGO_URL");
  const natsUrl = stringSetting(env, "NATS_URL");
  if (mongoUrl !== undefined && !/^mongodb(\+srv)?:\/\//.test(mongoUrl)) {
    throw new ConfigError("MONGO_URL", "must start with mongodb:// or mongodb+srv://");
  }
  if (natsUrl !== undefined) {
    const bad = natsUrl
      .split(",")
      .map((s) => s.trim())
      .find((s) => !/^(nats|tls|wss?):\/\/[^,\s]+$|^[^:/,\s]+:\d+$/.test(s));
    if (bad !== undefined) {
      throw new ConfigError(
        "NATS_URL",
        `must look like nats://host:port (several comma-separated), got "${bad}"`,
      );
    }
  }
  const messaging = readMessagingSettings(env);
  const webhook = readWebhook(env);
  // A send waiting out the before-send webhook must not outlive its own claim.
  if (webhook !== undefined && messaging.claimLeaseMs <= webhook.timeoutMs + 1000) {
    throw new ConfigError(
      "MESSAGE_CLAIM_LEASE_MS",
      `must exceed WEBHOOK_TIMEOUT_MS (${webhook.timeoutMs}) by more than 1000`,
    );
  }
  return {
    host: stringSetting(env, "HOST") ?? "0.0.0.0",
    port: intSetting(env, "PORT", 8080, { min: 0, max: 65535 }),
    tls: readTls(env),
    appId: intSetting(env, "APP_ID", DEV_APP_ID, { min: 1, max: 2 ** 32 - 1 }),
    secretKey: secretKey ?? DEV_SECRET_KEY,
    devSecretKey: secretKey === undefined,
    adminUserIds: new Set(adminUserIds),
    mongo:
      mongoUrl === undefined
        ? undefined
        : {
            url: mongoUrl,
            database: stringSetting(env, "MONGO_DATABASE") ?? "im",
            monitorCommands: booleanSetting(env, "MONGO_MONITOR_COMMANDS", false),
            writeConcern: writeConcern(env),
            writeConcernTimeoutMs: intSetting(env, "MONGO_WRITE_CONCERN_TIMEOUT_MS", 10_000, {
              min: 100,
              max: 600_000,
            }),
          },
    nats:
      natsUrl === undefined
        ? undefined
        : {
            url: natsUrl,
            namespace: namespace(env, "NATS_NAMESPACE", "im"),
            ...readStreamReplicas(env),
          },
    logLevel: enumSetting(env, "LOG_LEVEL", ["debug", "info", "warn", "error"], "info"),
    shutdownGraceMs: intSetting(env, "SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 600_000 }),
    userSigMaxSkewSec: intSetting(env, "USERSIG_MAX_SKEW_SEC", 300, { min: 0, max: 86_400 }),
    verifiedSigsMax: intSetting(env, "USERSIG_CACHE_MAX_ENTRIES", 100_000, {
      min: 0,
      max: 10_000_000,
    }),
    accountBatchMax: intSetting(env, "ACCOUNT_BATCH_MAX", 100, { min: 1, max: 10_000 }),
    youngGenerationCheckMs: intSetting(env, "YOUNG_GENERATION_CHECK_MS", 5000, {
      min: 0,
      max: 600_000,
    }),
    lookupCache: {
      ttlMs: intSetting(env, "LOOKUP_CACHE_TTL_MS", 60_000, { min: 0, max: 3_600_000 }),
      maxEntries: intSetting(env, "LOOKUP_CACHE_MAX_ENTRIES", 100_000, { min: 1, max: 10_000_000 }),
    },
    groups: readGroupConfig(env),
    profiles: {
      customFields: customFields(env, "PROFILE_CUSTOM_FIELDS", "Tag_Profile_Custom", true),
      batchMax: intSetting(env, "PROFILE_BATCH_MAX", 100, { min: 1, max: 10_000 }),
    },
    relations: {
      friendMax: intSetting(env, "FRIEND_MAX", 3000, { min: 1, max: 100_000 }),
      pendingRequestMax: intSetting(env, "FRIEND_PENDING_REQUEST_MAX", 100, { min: 1, max: 1000 }),
      friendListMax: intSetting(env, "FRIEND_LIST_MAX", 32, { min: 1, max: 1000 }),
      blocklistMax: intSetting(env, "BLOCKLIST_MAX", 1000, { min: 1, max: 100_000 }),
      batchMax: intSetting(env, "RELATION_BATCH_MAX", 1000, { min: 1, max: 10_000 }),
      customFields: customFields(env, "FRIEND_CUSTOM_FIELDS", "Tag_SNS_Custom", false),
    },
    messaging,
    keywordsFile: stringSetting(env, "KEYWORDS_FILE"),
    rateLimits: readRateLimitSettings(env),
    receipts: readReceiptSettings(env),

    presence: readPresenceConfig(env),
    transport: readTransportLimits(env, messaging.messageLimits.maxMessageBytes),
    webhook,
    push: readPushConfig(env),
    metrics: readMetrics(env),
    tracing: readTracing(env),
    c2cPolicy: {
      friendsOnly: booleanSetting(env, "C2C_FRIENDS_ONLY", false),
      blockedSend: enumSetting(env, "C2C_BLOCKED_SEND", ["reject", "drop-silently"], "reject"),
    },
  };
}

function readMetrics(env: Env): Config["metrics"] {
  const port = intSetting(env, "METRICS_PORT", 0, { min: 0, max: 65535 });
  if (port === 0) return undefined;
  return { host: stringSetting(env, "METRICS_HOST") ?? "127.0.0.1", port };
}

/**
 * The standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the
 * full URL; OTEL_EXPORTER_OTLP_ENDPOINT the base that /v1/traces is appended to.
 */
function readTracing(env: Env): Config["tracing"] {
  const tracesUrl = stringSetting(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = stringSetting(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  const url =
    tracesUrl ?? (base === undefined ? undefined : `${base.replace(/\/+$/, "")}/v1/traces`);
  if (url === undefined) return undefined;
  if (!/^https?:\/\//.test(url)) {
    throw new ConfigError(
      tracesUrl === undefined
        ? "OTEL_EXPORTER_OTLP_ENDPOINT"
        : "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      "must be an http:// or https:// URL",
    );
  }
  return { url, serviceName: stringSetting(env, "OTEL_SERVICE_NAME") ?? "im-server" };
}

function customFields(
  env: Env,
  name: string,
  prefix: string,
  permissions: boolean,
): CustomFieldDef[] {
  try {
    return parseCustomFieldSpecs(stringSetting(env, name) ?? "", prefix, { permissions });
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function readTls(env: Env): Config["tls"] {
  const certFile = stringSetting(env, "TLS_CERT_FILE");
  const keyFile = stringSetting(env, "TLS_KEY_FILE");
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) throw new ConfigError("TLS_CERT_FILE", "required with TLS_KEY_FILE");
  if (keyFile === undefined) throw new ConfigError("TLS_KEY_FILE", "required with TLS_CERT_FILE");
  return {
    cert: readSettingFile("TLS_CERT_FILE", certFile),
    key: readSettingFile("TLS_KEY_FILE", keyFile),
  };
}

function readSettingFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** MONGO_WRITE_CONCERN: "majority" or a number of members (1 acks on the primary alone). */
function writeConcern(env: Env): "majority" | number {
  const raw = stringSetting(env, "MONGO_WRITE_CONCERN") ?? "majority";
  if (raw === "majority") return raw;
  if (/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 50) return Number(raw);
  throw new ConfigError(
    "MONGO_WRITE_CONCERN",
    `must be "majority" or a member count 1-50, got "${raw}"`,
  );
}

/** NATS_STREAM_REPLICAS, and NATS_STREAM_REPLICAS_<CLASS> per stream class (KV, COUNTERS too). */
function readStreamReplicas(
  env: Env,
): Pick<NonNullable<Config["nats"]>, "streamReplicas" | "streamReplicasOf"> {
  const range = { min: 1, max: MAX_STREAM_REPLICAS };
  const streamReplicas = intSetting(env, "NATS_STREAM_REPLICAS", 1, range);
  const streamReplicasOf: Partial<Record<ReplicaClass, number>> = {};
  for (const key of replicaClasses) {
    const name = `NATS_STREAM_REPLICAS_${key.toUpperCase()}`;
    if (stringSetting(env, name) !== undefined) {
      streamReplicasOf[key] = intSetting(env, name, streamReplicas, range);
    }
  }
  return { streamReplicas, streamReplicasOf };
}

function namespace(env: Env, name: string, fallback: string): string {
  const value = stringSetting(env, name) ?? fallback;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new ConfigError(name, "must be 1-64 characters of [A-Za-z0-9_-]");
  }
  return value;
}

export interface MessagingSettings {
  /**
   * Everything a message carries, encoded: body, cloud custom data and push
   * info (reference: 12 KB); push title + desc + ext within their own budget
   * (reference: Desc and Ext within 3 KB for APNs' 4 KB payload).
   */
  messageLimits: MessageLimits;
  /** A repeated client message id or random within this window is a retry. */
  dedupWindowMs: number;
  /** How long a claimed send may stay unstored before a retry may take its claim over. */
  claimLeaseMs: number;
  /** Messages older than this are not returned (reference: 7 days). */
  retentionMs: number;
  /** Conversations per ListConversations page (reference: 100 recent contacts). */
  recentContactsMax: number;
  /** Keep-alive interval of idle live streams. */
  keepAliveMs: number;
  /** Events a live stream may fall behind before it is closed. */
  streamQueueMax: number;
  /**
   * Devices of one user streaming at once on one node (reference multi-platform
   * login: six platforms online at once; headroom for a second phone or tablet).
   */
  streamsPerUserMax: number;
  /** How often open streams are checked for an expired UserSig. */
  streamAuthorityCheckMs: number;
  /** How often the outbox looks for messages that were stored but not published. */
  outboxIntervalMs: number;
  /** A message unpublished for this long is republished by the outbox. */
  outboxStaleMs: number;
  /**
   * Most messages a node writes to the store in one batch (group commit: sends
   * arriving while a batch is written go into the next one).
   */
  writeBatchMax: number;
  /**
   * How long after its time a sender may recall their own message (reference:
   * 2 minutes). Group owners and admins where allowed, and app admins, are not bound by it.
   */
  recallWindowMs: number;
  /** How long after its time a sender may edit their own message; app admins at any time. */
  editWindowMs: number;
  /** Most seqs of one DeleteMessages or DeleteMessagesForMe call. */
  deleteBatchMax: number;
  /**
   * Most seqs one user keeps deleted for themselves per conversation (above
   * its cleared seq): bounds the per-user document and the unread query.
   */
  deletedForMeMax: number;
}

const DAY_MS = 24 * 3600 * 1000;

function readMessagingSettings(env: Env): MessagingSettings {
  return {
    messageLimits: {
      maxMessageBytes: intSetting(env, "MESSAGE_MAX_BYTES", 12 * 1024, {
        min: 256,
        max: 1024 * 1024,
      }),
      maxPushInfoBytes: intSetting(env, "MESSAGE_PUSH_INFO_MAX_BYTES", 3 * 1024, {
        min: 0,
        max: 1024 * 1024,
      }),
    },
    dedupWindowMs: intSetting(env, "MESSAGE_DEDUP_WINDOW_MS", 120_000, { min: 1000, max: DAY_MS }),
    claimLeaseMs: intSetting(env, "MESSAGE_CLAIM_LEASE_MS", 15_000, { min: 1000, max: DAY_MS }),
    writeBatchMax: intSetting(env, "MESSAGE_WRITE_BATCH_MAX", 256, { min: 1, max: 10_000 }),
    retentionMs: intSetting(env, "MESSAGE_RETENTION_DAYS", 7, { min: 1, max: 3650 }) * DAY_MS,
    recentContactsMax: intSetting(env, "RECENT_CONTACTS_MAX", 100, { min: 1, max: 1000 }),
    keepAliveMs: intSetting(env, "STREAM_KEEPALIVE_MS", 30_000, { min: 100, max: 600_000 }),
    streamQueueMax: intSetting(env, "STREAM_QUEUE_MAX", 10_000, { min: 10, max: 1_000_000 }),
    streamsPerUserMax: intSetting(env, "STREAMS_PER_USER_MAX", 10, { min: 1, max: 10_000 }),
    streamAuthorityCheckMs: intSetting(env, "STREAM_AUTHORITY_CHECK_MS", 1000, {
      min: 10,
      max: 60_000,
    }),
    outboxIntervalMs: intSetting(env, "OUTBOX_INTERVAL_MS", 1000, { min: 10, max: 600_000 }),
    outboxStaleMs: intSetting(env, "OUTBOX_STALE_MS", 3000, { min: 0, max: 600_000 }),
    recallWindowMs: intSetting(env, "RECALL_WINDOW_MS", 120_000, { min: 0, max: 7 * DAY_MS }),
    editWindowMs: intSetting(env, "EDIT_WINDOW_MS", 120_000, { min: 0, max: 7 * DAY_MS }),
    deleteBatchMax: intSetting(env, "DELETE_BATCH_MAX", 100, { min: 1, max: 1000 }),
    deletedForMeMax: intSetting(env, "DELETED_FOR_ME_MAX", 1000, { min: 1, max: 10_000 }),
  };
}

/** Webhook settings are read by the webhooks module, which shares these setting readers. */
function readWebhook(env: Env): WebhookConfig | undefined {
  return readWebhookConfig(
    env,
    String(intSetting(env, "APP_ID", DEV_APP_ID, { min: 1, max: 2 ** 32 - 1 })),
  );
}
