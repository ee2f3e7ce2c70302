import { readFileSync } from "node:fs";
import { isValidUserId } from "../common/user-id.js";
import type { LogLevel } from "../log/logger.js";
import {
  ConfigError,
  type Env,
  enumSetting,
  intSetting,
  listSetting,
  stringSetting,
} from "./settings.js";

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
  mongo: { url: string; database: string } | undefined;
  /** Unset: in-process bus (single node). */
  nats: { url: string; namespace: string } | undefined;
  logLevel: LogLevel;
  /** How long shutdown waits for in-flight calls before closing connections. */
  shutdownGraceMs: number;
  /** Clock skew tolerated for UserSigs issued in the future. */
  userSigMaxSkewSec: number;
  /** Accounts per import/delete/check call (reference: 100). */
  accountBatchMax: number;
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
  if (natsUrl !== undefined && !/^(nats|tls|wss?):\/\/|^[^:/]+:\d+$/.test(natsUrl)) {
    throw new ConfigError("NATS_URL", "must look like nats://host:port");
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
        : { url: mongoUrl, database: stringSetting(env, "MONGO_DATABASE") ?? "im" },
    nats:
      natsUrl === undefined
        ? undefined
        : { url: natsUrl, namespace: namespace(env, "NATS_NAMESPACE", "im") },
    logLevel: enumSetting(env, "LOG_LEVEL", ["debug", "info", "warn", "error"], "info"),
    shutdownGraceMs: intSetting(env, "SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 600_000 }),
    userSigMaxSkewSec: intSetting(env, "USERSIG_MAX_SKEW_SEC", 300, { min: 0, max: 86_400 }),
    accountBatchMax: intSetting(env, "ACCOUNT_BATCH_MAX", 100, { min: 1, max: 10_000 }),
  };
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

function namespace(env: Env, name: string, fallback: string): string {
  const value = stringSetting(env, name) ?? fallback;
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(value)) {
    throw new ConfigError(name, "must be 1-32 characters of [a-z0-9_], starting with a letter");
  }
  return value;
}
