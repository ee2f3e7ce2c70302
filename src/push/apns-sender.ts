import type { KeyObject } from "node:crypto";
import { randomUUID } from "node:crypto";
import {
  type ClientHttp2Session,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from "node:http2";
import type { Clock } from "../common/clock.js";
import { signJwt } from "./jwt.js";
import { parseRetryAfter, type SendOutcome } from "./provider.js";

export interface ApnsSettings {
  /** The .p8 signing key (EC P-256), read from APNS_KEY_FILE. */
  key: KeyObject;
  /** APNS_KEY_ID: the key's 10-character id (JWT "kid"). */
  keyId: string;
  /** APNS_TEAM_ID: the developer team (JWT "iss"). */
  teamId: string;
  /** Origin for production tokens, default https://api.push.apple.com. */
  productionUrl: string;
  /** Origin for sandbox tokens, default https://api.sandbox.push.apple.com. */
  sandboxUrl: string;
  /** Extra CA certificates to trust (PEM; tests' local APNs); undefined: the system's. */
  ca?: string | undefined;
  /** A provider token is replaced after this age (Apple: within 1 h, at most every 20 min). */
  tokenRefreshMs: number;
  /** Bound on one request. */
  requestTimeoutMs: number;
  /** apns-expiration: how long APNs keeps trying an offline device. */
  expirationMs: number;
}

/** One notification to one iOS device. */
export interface ApnsRequest {
  token: string;
  environment: "sandbox" | "production";
  /** apns-topic: the app's bundle id. */
  topic: string;
  /** JSON payload. */
  payload: string;
  /** apns-collapse-id: a repeat of the same id replaces the shown notification. */
  collapseId: string;
}

export interface ApnsSender {
  send(request: ApnsRequest): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** Reasons (Apple's documented 400 and 410 answers) that mean the token will never work. */
const DEAD_TOKEN_REASONS = new Set(["BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"]);
/** 403 reasons cured by signing a new provider token. */
const STALE_JWT_REASONS = new Set(["ExpiredProviderToken", "InvalidProviderToken"]);

/**
 * APNs over HTTP/2 with token-based authentication (a thin client on
 * node:http2: one long-lived session per origin, as Apple asks, and no
 * dependency). POST /3/device/<token> with the provider JWT, apns-topic,
 * apns-push-type alert, apns-priority 10, apns-expiration and apns-collapse-id.
 */
export function createApnsSender(settings: ApnsSettings, clock: Clock): ApnsSender {
  const sessions = new Map<string, ClientHttp2Session>();
  let jwt: { token: string; issuedAtMs: number } | undefined;

  const providerToken = () => {
    const now = clock();
    if (jwt === undefined || now - jwt.issuedAtMs >= settings.tokenRefreshMs) {
      const token = signJwt(
        "ES256",
        { kid: settings.keyId },
        { iss: settings.teamId, iat: Math.floor(now / 1000) },
        settings.key,
      );
      jwt = { token, issuedAtMs: now };
    }
    return jwt.token;
  };

  const sessionFor = (origin: string): ClientHttp2Session => {
    const open = sessions.get(origin);
    if (open !== undefined && !open.closed && !open.destroyed) return open;
    const session = connect(origin, settings.ca === undefined ? {} : { ca: settings.ca });
    const forget = () => {
      if (sessions.get(origin) === session) sessions.delete(origin);
    };
    session.on("close", forget);
    session.on("error", forget);
    session.on("goaway", forget);
    session.unref();
    sessions.set(origin, session);
    return session;
  };

  const send = (req: ApnsRequest): Promise<SendOutcome> =>
    new Promise((resolve) => {
      const origin = req.environment === "sandbox" ? settings.sandboxUrl : settings.productionUrl;
      let session: ClientHttp2Session;
      try {
        session = sessionFor(origin);
      } catch (err) {
        resolve({ kind: "retry", reason: `connect: ${(err as Error).message}` });
        return;
      }
      const usedJwt = providerToken();
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: `/3/device/${req.token}`,
        authorization: `bearer ${usedJwt}`,
        "apns-id": randomUUID(),
        "apns-topic": req.topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": String(Math.floor((clock() + settings.expirationMs) / 1000)),
        "apns-collapse-id": req.collapseId,
        "content-type": "application/json",
      });
      stream.setTimeout(settings.requestTimeoutMs, () => {
        stream.close(constants.NGHTTP2_CANCEL);
        resolve({ kind: "retry", reason: "timeout" });
      });
      let headers: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        headers = h;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (err) => resolve({ kind: "retry", reason: `stream: ${err.message}` }));
      stream.on("end", () => {
        const status = Number(headers?.[constants.HTTP2_HEADER_STATUS] ?? 0);
        if (status === 200) {
          resolve({ kind: "sent" });
          return;
        }
        const reason = reasonOf(Buffer.concat(chunks).toString("utf8")) || `HTTP ${status}`;
        if (status === 410 || (status === 400 && DEAD_TOKEN_REASONS.has(reason))) {
          resolve({ kind: "invalid-token", reason });
        } else if (status === 403 && STALE_JWT_REASONS.has(reason)) {
          // Sign a new one for the retry (unless another request already did).
          if (jwt?.token === usedJwt) jwt = undefined;
          resolve({ kind: "retry", reason });
        } else if (status === 429 || status >= 500) {
          const retryAfter = parseRetryAfter(headerString(headers?.["retry-after"]), clock());
          resolve({
            kind: "retry",
            reason,
            ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
          });
        } else {
          resolve({ kind: "failed", reason });
        }
      });
      stream.end(req.payload);
    });

  return {
    send,
    async close() {
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(
        open.map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.close(resolve)))),
      );
    },
  };
}

const headerString = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[0] : v;

function reasonOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { reason?: unknown };
    return typeof parsed.reason === "string" ? parsed.reason : "";
  } catch {
    return "";
  }
}
