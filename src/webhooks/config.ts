import { ConfigError, type Env, intSetting, stringSetting } from "../config/settings.js";
import { isWebhookEventName, WEBHOOK_EVENT_NAMES, type WebhookEventName } from "./events.js";

/** The contract of docs/architecture.md, "Webhook semantics": 2 s unless the app configures otherwise. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 2000;
/** The longest timeout the server accepts; the simulator shares it. */
export const MAX_WEBHOOK_TIMEOUT_MS = 60_000;

/** Where and how the server calls one app's webhook endpoint. */
export interface WebhookConfig {
  /** http(s) URL every event is POSTed to. */
  url: string;
  /** Shared HMAC secret; requests are always signed. */
  secret: string;
  /** Events that are sent; the others are skipped without a request. */
  enabledEvents: ReadonlySet<WebhookEventName>;
  /** Hard limit for one request, connect to last byte of the reply. */
  timeoutMs: number;
  /** Copied into every WebhookRequest.app_id. */
  appId: string;
}

/**
 * Reads WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS (comma list of event names
 * or "all"; default all) and WEBHOOK_TIMEOUT_MS (default 2000). Returns
 * undefined when no WEBHOOK_* variable is set: webhooks are off. Throws
 * ConfigError naming the variable at fault.
 */
export function readWebhookConfig(env: Env, appId: string): WebhookConfig | undefined {
  const url = stringSetting(env, "WEBHOOK_URL");
  const secret = stringSetting(env, "WEBHOOK_SECRET");
  const events = stringSetting(env, "WEBHOOK_EVENTS");
  const timeout = stringSetting(env, "WEBHOOK_TIMEOUT_MS");
  if (url === undefined) {
    // Any other WEBHOOK_* without a URL is a half-done setup; say which part is missing.
    if (secret !== undefined || events !== undefined || timeout !== undefined) {
      throw new ConfigError("WEBHOOK_URL", "required when other WEBHOOK_* settings are set");
    }
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError("WEBHOOK_URL", `not a URL: "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError("WEBHOOK_URL", `must be http:// or https://, got "${url}"`);
  }
  if (secret === undefined) {
    throw new ConfigError("WEBHOOK_SECRET", "required: every webhook request is signed");
  }
  return {
    url: parsed.toString(),
    secret,
    enabledEvents: parseEvents(events),
    timeoutMs: intSetting(env, "WEBHOOK_TIMEOUT_MS", DEFAULT_WEBHOOK_TIMEOUT_MS, {
      min: 1,
      max: MAX_WEBHOOK_TIMEOUT_MS,
    }),
    appId,
  };
}

function parseEvents(raw: string | undefined): ReadonlySet<WebhookEventName> {
  if (raw === undefined || raw.toLowerCase() === "all") return new Set(WEBHOOK_EVENT_NAMES);
  const names = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = names.find((n) => !isWebhookEventName(n));
  if (unknown !== undefined) {
    throw new ConfigError(
      "WEBHOOK_EVENTS",
      `unknown event "${unknown}"; expected "all" or a comma list of ${WEBHOOK_EVENT_NAMES.join(", ")}`,
    );
  }
  return new Set(names as WebhookEventName[]);
}

/**
 * What the start-up log says about webhooks: on or off, where to (host only: the
 * path may carry a token) and which events. Never the secret.
 */
export function describeWebhookConfig(config: WebhookConfig | undefined): {
  message: string;
  fields: Record<string, unknown>;
} {
  if (config === undefined) return { message: "webhooks off (WEBHOOK_URL not set)", fields: {} };
  const all = WEBHOOK_EVENT_NAMES.every((n) => config.enabledEvents.has(n));
  return {
    message: "webhooks on",
    fields: {
      webhookHost: new URL(config.url).host,
      webhookEvents: all ? "all" : [...config.enabledEvents].join(","),
      webhookTimeoutMs: config.timeoutMs,
    },
  };
}
