import { generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One message the fake FCM accepted. */
export interface FcmDelivery {
  projectId: string;
  message: {
    token: string;
    notification?: { title?: string; body?: string };
    android?: { notification?: Record<string, unknown>; collapse_key?: string };
    data?: Record<string, string>;
  };
}

/** A scripted answer for the next messages:send (any token). */
export interface FcmScriptedAnswer {
  status: number;
  /** Google's status string (UNAVAILABLE, QUOTA_EXCEEDED → RESOURCE_EXHAUSTED, ...). */
  grpcStatus: string;
  /** FcmError.errorCode. */
  errorCode: string;
  headers?: Record<string, string>;
}

export interface FakeFcm {
  /** Origin of the FCM API (http://127.0.0.1:<port>). */
  url: string;
  /** The OAuth2 token endpoint on the same server. */
  tokenUrl: string;
  projectId: string;
  /** A service-account JSON as Google issues it, pointing token_uri at this server. */
  serviceAccountJson: string;
  delivered: FcmDelivery[];
  answered: { token: string; status: number; errorCode: string }[];
  /** Access tokens issued by the token endpoint. */
  issuedTokens: string[];
  /** Tokens FCM reports as UNREGISTERED (404). */
  unregistered: Set<string>;
  script: FcmScriptedAnswer[];
  /**
   * Once this many messages were accepted, further accepted messages are
   * recorded in `delivered` but not answered until `release()` (a provider
   * that stalls, so a test can act while requests are in flight).
   */
  holdAfter: number | undefined;
  /** Answers every held request and stops holding. */
  release(): void;
  close(): Promise<void>;
}

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

/**
 * A local FCM HTTP v1 endpoint plus the OAuth2 token endpoint a service
 * account uses, checking what Google checks: the token endpoint takes
 * grant_type jwt-bearer with an RS256 assertion signed by the service
 * account's key (iss = client_email, aud = token_uri, the messaging scope, at
 * most an hour long) and issues a bearer token; messages:send needs that
 * bearer (401 UNAUTHENTICATED), exactly one target, string data values, at
 * most 4096 bytes (400 INVALID_ARGUMENT), a well-formed registration token
 * (400 INVALID_ARGUMENT with FcmError INVALID_ARGUMENT, as Google documents),
 * and answers 404 UNREGISTERED for dead tokens; success is {"name": ...}.
 */
export async function startFakeFcm(options: { nowMs?: () => number } = {}): Promise<FakeFcm> {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const now = options.nowMs ?? Date.now;
  const projectId = "demo-project";
  const clientEmail = "push@demo-project.iam.gserviceaccount.com";
  const issued = new Set<string>();
  let tokenUrl = "";
  let sent = 0;
  const held: (() => void)[] = [];
  const fake: Omit<FakeFcm, "url" | "tokenUrl" | "serviceAccountJson" | "close"> = {
    holdAfter: undefined,
    release() {
      fake.holdAfter = undefined;
      for (const answer of held.splice(0)) answer();
    },
    projectId,
    delivered: [],
    answered: [],
    issuedTokens: [],
    unregistered: new Set(),
    script: [],
  };

  const json = (res: ServerResponse, status: number, body: unknown, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
    res.end(JSON.stringify(body));
  };
  const googleError = (
    res: ServerResponse,
    status: number,
    grpcStatus: string,
    message: string,
    details: unknown[],
    headers = {},
  ) =>
    json(res, status, { error: { code: status, message, status: grpcStatus, details } }, headers);
  const fcmError = (code: string) => ({
    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
    errorCode: code,
  });

  const onToken = (body: string, res: ServerResponse) => {
    const form = new URLSearchParams(body);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      return json(res, 400, {
        error: "unsupported_grant_type",
        error_description: "Invalid grant_type",
      });
    }
    const parts = (form.get("assertion") ?? "").split(".");
    const bad = (d: string) => json(res, 400, { error: "invalid_grant", error_description: d });
    if (parts.length !== 3) return bad("Invalid JWT");
    const [h, c, s] = parts as [string, string, string];
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(c, "base64url").toString()) as Record<string, unknown>;
    } catch {
      return bad("Invalid JWT");
    }
    const signed = verify(
      "sha256",
      Buffer.from(`${h}.${c}`),
      publicKey,
      Buffer.from(s, "base64url"),
    );
    if (header.alg !== "RS256" || !signed) return bad("Invalid JWT Signature.");
    if (claims.iss !== clientEmail) return bad("Invalid issuer");
    if (claims.aud !== tokenUrl) return bad("Invalid JWT audience");
    if (typeof claims.scope !== "string" || !claims.scope.split(" ").includes(SCOPE)) {
      return bad("Invalid scope");
    }
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    const nowSec = now() / 1000;
    if (!(exp > nowSec) || exp - iat > 3600 || iat > nowSec + 300) {
      return bad(
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
      );
    }
    const accessToken = `ya29.${randomBytes(24).toString("base64url")}`;
    issued.add(accessToken);
    fake.issuedTokens.push(accessToken);
    json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
  };

  const onSend = (req: IncomingMessage, body: string, res: ServerResponse, project: string) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    let token = "";
    const answer = (
      status: number,
      grpcStatus: string,
      errorCode: string,
      message: string,
      extra: unknown[] = [],
      headers = {},
    ) => {
      fake.answered.push({ token, status, errorCode });
      googleError(
        res,
        status,
        grpcStatus,
        message,
        errorCode === "" ? extra : [fcmError(errorCode), ...extra],
        headers,
      );
    };
    if (bearer === undefined || !issued.has(bearer)) {
      return answer(401, "UNAUTHENTICATED", "", "Request had invalid authentication credentials.");
    }
    if (project !== projectId)
      return answer(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch");
    let parsed: { message?: FcmDelivery["message"] & { topic?: string; condition?: string } };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return answer(400, "INVALID_ARGUMENT", "", "Invalid JSON payload received.");
    }
    const message = parsed.message;
    token = message?.token ?? "";
    const scripted = fake.script.shift();
    if (scripted !== undefined) {
      return answer(
        scripted.status,
        scripted.grpcStatus,
        scripted.errorCode,
        scripted.grpcStatus,
        [],
        scripted.headers,
      );
    }
    const targets = [message?.token, message?.topic, message?.condition].filter(
      (t) => t !== undefined,
    );
    if (message === undefined || targets.length !== 1) {
      return answer(
        400,
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "Exactly one of token, topic or condition is required",
      );
    }
    for (const [i, [, v]] of Object.entries(message.data ?? {}).entries()) {
      if (typeof v !== "string") {
        const field = `message.data[${i}].value`;
        return answer(400, "INVALID_ARGUMENT", "", `Invalid value at '${field}' (TYPE_STRING)`, [
          {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            fieldViolations: [{ field, description: "TYPE_STRING" }],
          },
        ]);
      }
    }
    if (Buffer.byteLength(JSON.stringify(message)) > 4096) {
      return answer(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big");
    }
    if (!/^[A-Za-z0-9_:.-]{8,4096}$/.test(token)) {
      return answer(
        400,
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
      );
    }
    if (fake.unregistered.has(token)) {
      return answer(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.");
    }
    const hold = fake.holdAfter !== undefined && fake.delivered.length >= fake.holdAfter;
    fake.delivered.push({ projectId: project, message });
    const ok = () => {
      fake.answered.push({ token, status: 200, errorCode: "" });
      // The client may be gone (a killed server): nothing to answer then.
      if (!res.destroyed) json(res, 200, { name: `projects/${projectId}/messages/0:${++sent}` });
    };
    if (hold) held.push(ok);
    else ok();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "";
      if (req.method === "POST" && path === "/token") return onToken(body, res);
      const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
      if (req.method === "POST" && send?.[1] !== undefined) {
        return onSend(req, body, res, decodeURIComponent(send[1]));
      }
      json(res, 404, { error: { code: 404, message: "Not Found", status: "NOT_FOUND" } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  tokenUrl = `${url}/token`;
  const serviceAccountJson = JSON.stringify({
    type: "service_account",
    project_id: projectId,
    private_key_id: "0123456789abcdef",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    client_email: clientEmail,
    client_id: "1234567890",
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: tokenUrl,
  });
  // The same object the handlers read, so a test's `holdAfter` takes effect.
  return Object.assign(fake, {
    url,
    tokenUrl,
    serviceAccountJson,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
