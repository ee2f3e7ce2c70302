import { isWebhookEventName, WEBHOOK_EVENT_NAMES, type WebhookEventName } from "./events.js";

/** The DESIGN.md contract: 2 s unless the app configures otherwise. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 2000;
const MAX_WEBHOOK_TIMEOUT_MS = 60_000;

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

/** A bad WEBHOOK_* variable; the message names it so start-up errors are actionable. */
export class WebhookConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`invalid configuration: ${setting}: ${message}`);
    this.name = "WebhookConfigError";
  }
}

export type WebhookEnv = Readonly<Record<string, string | undefined>>;

const setting = (env: WebhookEnv, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
};

/**
 * Reads WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS (comma list of event names
 * or "all"; default all) and WEBHOOK_TIMEOUT_MS (default 2000). Returns
 * undefined when no WEBHOOK_* variable is set: webhooks are off. Throws
 * WebhookConfigError naming the variable at fault.
 */
export function readWebhookConfig(env: WebhookEnv, appId: string): WebhookConfig | undefined {
  const url = setting(env, "WEBHOOK_URL");
  const secret = setting(env, "WEBHOOK_SECRET");
  const events = setting(env, "WEBHOOK_EVENTS");
  const timeout = setting(env, "WEBHOOK_TIMEOUT_MS");
  if (url === undefined) {
    // Any other WEBHOOK_* without a URL is a half-done setup; say which part is missing.
    if (secret !== undefined || events !== undefined || timeout !== undefined) {
      throw new WebhookConfigError("WEBHOOK_URL", "required when other WEBHOOK_* settings are set");
    }
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookConfigError("WEBHOOK_URL", `not a URL: "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new WebhookConfigError("WEBHOOK_URL", `must be http:// or https://, got "${url}"`);
  }
  if (secret === undefined) {
    throw new WebhookConfigError("WEBHOOK_SECRET", "required: every webhook request is signed");
  }
  return {
    url: parsed.toString(),
    secret,
    enabledEvents: parseEvents(events),
    timeoutMs: parseTimeout(timeout),
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
    throw new WebhookConfigError(
      "WEBHOOK_EVENTS",
      `unknown event "${unknown}"; expected "all" or a comma list of ${WEBHOOK_EVENT_NAMES.join(", ")}`,
    );
  }
  return new Set(names as WebhookEventName[]);
}

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_WEBHOOK_TIMEOUT_MS;
  if (!/^\d+$/.test(raw)) {
    throw new WebhookConfigError("WEBHOOK_TIMEOUT_MS", `expected an integer, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < 1 || value > MAX_WEBHOOK_TIMEOUT_MS) {
    throw new WebhookConfigError(
      "WEBHOOK_TIMEOUT_MS",
      `must be between 1 and ${MAX_WEBHOOK_TIMEOUT_MS}, got ${value}`,
    );
  }
  return value;
}
