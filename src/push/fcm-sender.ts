import type { KeyObject } from "node:crypto";
import type { Clock } from "../common/clock.js";
import { signJwt } from "./jwt.js";
import { parseRetryAfter, type SendOutcome } from "./provider.js";

export interface FcmSettings {
  /** The Firebase project (service account project_id). */
  projectId: string;
  /** The service account's client_email (JWT "iss"). */
  clientEmail: string;
  /** The service account's RSA private key. */
  key: KeyObject;
  /** OAuth2 token endpoint (the service account's token_uri; default https://oauth2.googleapis.com/token). */
  tokenUrl: string;
  /** FCM origin, default https://fcm.googleapis.com. */
  fcmUrl: string;
  /** Bound on one request. */
  requestTimeoutMs: number;
}

/** The FCM HTTP v1 `message`, without its token. */
export interface FcmMessage {
  notification: { title?: string; body: string };
  android: {
    priority: "high";
    collapse_key: string;
    notification: { sound?: string; channel_id?: string; tag: string; notification_count?: number };
  };
  /** String values only (FCM's rule). */
  data: Record<string, string>;
}

export interface FcmSender {
  send(token: string, message: FcmMessage): Promise<SendOutcome>;
}

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** Access tokens are renewed this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000;

interface GoogleError {
  error?: {
    code?: number;
    status?: string;
    message?: string;
    details?: { "@type"?: string; errorCode?: string; fieldViolations?: { field?: string }[] }[];
  };
}

/**
 * FCM HTTP v1 (a thin client on fetch, not google-auth-library: one JWT
 * signature and one form POST, and the token endpoint stays configurable).
 * A service-account JWT (RS256) is exchanged for an OAuth2 access token,
 * cached until shortly before it expires, then POST
 * /v1/projects/<id>/messages:send with {message: {token, notification, android, data}}.
 */
export function createFcmSender(settings: FcmSettings, clock: Clock): FcmSender {
  let access: { token: string; expiresAtMs: number } | undefined;
  let pending: Promise<string> | undefined;

  const exchange = async (): Promise<string> => {
    const now = clock();
    const iat = Math.floor(now / 1000);
    const assertion = signJwt(
      "RS256",
      {},
      { iss: settings.clientEmail, scope: SCOPE, aud: settings.tokenUrl, iat, exp: iat + 3600 },
      settings.key,
    );
    const res = await fetch(settings.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion,
      }).toString(),
      signal: AbortSignal.timeout(settings.requestTimeoutMs),
    });
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
    };
    if (!res.ok || typeof body.access_token !== "string") {
      throw new Error(`FCM token exchange: HTTP ${res.status} ${body.error ?? ""}`.trim());
    }
    access = {
      token: body.access_token,
      expiresAtMs: now + (body.expires_in ?? 3600) * 1000 - RENEW_BEFORE_MS,
    };
    return access.token;
  };

  const accessToken = (): Promise<string> => {
    if (access !== undefined && clock() < access.expiresAtMs) return Promise.resolve(access.token);
    // One exchange at a time; concurrent sends share it.
    pending ??= exchange().finally(() => {
      pending = undefined;
    });
    return pending;
  };

  return {
    async send(token, message) {
      let bearer: string;
      try {
        bearer = await accessToken();
      } catch (err) {
        return { kind: "retry", reason: (err as Error).message };
      }
      let res: Response;
      try {
        res = await fetch(
          `${settings.fcmUrl}/v1/projects/${encodeURIComponent(settings.projectId)}/messages:send`,
          {
            method: "POST",
            headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
            body: JSON.stringify({ message: { token, ...message } }),
            signal: AbortSignal.timeout(settings.requestTimeoutMs),
          },
        );
      } catch (err) {
        return { kind: "retry", reason: `request: ${(err as Error).message}` };
      }
      if (res.ok) {
        await res.body?.cancel();
        return { kind: "sent" };
      }
      const body = (await res.json().catch(() => ({}))) as GoogleError;
      const details = body.error?.details ?? [];
      const fcmCode = details.find((d) => d["@type"]?.endsWith("FcmError"))?.errorCode;
      const reason = fcmCode ?? body.error?.status ?? `HTTP ${res.status}`;
      // INVALID_ARGUMENT also covers a bad payload; Google's documented answer for a
      // malformed token says so in its message (or names message.token in a BadRequest).
      const aboutToken =
        /registration token/i.test(body.error?.message ?? "") ||
        details.some((d) => (d.fieldViolations ?? []).some((v) => v.field === "message.token"));
      if (fcmCode === "UNREGISTERED" || (fcmCode === "INVALID_ARGUMENT" && aboutToken)) {
        return { kind: "invalid-token", reason };
      }
      if (res.status === 401) {
        // The access token was refused: exchange a new one for the retry.
        access = undefined;
        return { kind: "retry", reason };
      }
      if (res.status === 429 || res.status >= 500) {
        const retryAfter = parseRetryAfter(res.headers.get("retry-after"), clock());
        return {
          kind: "retry",
          reason,
          ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
        };
      }
      return { kind: "failed", reason };
    },
  };
}
