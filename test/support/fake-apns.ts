import { generateKeyPairSync, type KeyObject, randomUUID, verify } from "node:crypto";
import {
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { selfSignedLocalhostCert } from "./self-signed-cert.js";

/** One request the fake APNs accepted (200). */
export interface ApnsDelivery {
  token: string;
  headers: IncomingHttpHeaders;
  payload: { aps: Record<string, unknown>; [key: string]: unknown };
  jwt: { header: Record<string, unknown>; claims: Record<string, unknown> };
  /** When the request was received (Date.now()). */
  at: number;
}

/** A scripted answer, used once for the next request (to any token). */
export interface ApnsScriptedAnswer {
  status: number;
  reason: string;
  headers?: Record<string, string>;
}

export interface FakeApns {
  /** https://localhost:<port> */
  url: string;
  /** PEM of the self-signed certificate the server presents (trust it as a CA). */
  caPem: string;
  /** The PKCS8 PEM of the provider signing key the server trusts (an APNs .p8). */
  signingKeyPem: string;
  keyId: string;
  teamId: string;
  delivered: ApnsDelivery[];
  /** Every request with the status it was answered. */
  answered: { token: string; status: number; reason: string }[];
  /** Tokens APNs says are no longer valid for the topic (410 Unregistered). */
  unregistered: Set<string>;
  /** Answers for the next requests, in order, before any other check passes. */
  script: ApnsScriptedAnswer[];
  /**
   * Once this many requests were accepted, further accepted ones are recorded
   * in `delivered` (Apple has them) but not answered until `release()`: a
   * provider that stalls, so a test can act while a node is mid-job.
   */
  holdAfter: number | undefined;
  /** Answers every held request and stops holding. */
  release(): void;
  close(): Promise<void>;
}

const VALID_PUSH_TYPES = new Set([
  "alert",
  "background",
  "location",
  "voip",
  "complication",
  "fileprovider",
  "mdm",
  "liveactivity",
  "pushtotalk",
]);

/**
 * A local APNs provider API over HTTP/2 + TLS (self-signed certificate) that
 * checks what Apple checks and answers as Apple documents: POST
 * /3/device/<hex token>; "authorization: bearer <JWT>" signed ES256 by the
 * registered key (kid) with iss = team id and an iat under an hour old
 * (403 MissingProviderToken / InvalidProviderToken / ExpiredProviderToken);
 * apns-topic one of `topics` (400 MissingTopic / TopicDisallowed);
 * apns-push-type, apns-priority (5 or 10), apns-expiration (epoch seconds),
 * apns-collapse-id (at most 64 bytes); a JSON payload with "aps" of at most
 * 4096 bytes (413 PayloadTooLarge, 400 PayloadEmpty / BadRequest). Errors come
 * as {"reason": ...}, 410 with a timestamp; 200 carries apns-id.
 */
export async function startFakeApns(options: {
  topics: string[];
  nowMs?: () => number;
}): Promise<FakeApns> {
  const { certPem: caPem, keyPem: tlsKey } = selfSignedLocalhostCert();

  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyId = "ABC123DEFG";
  const teamId = "DEF123GHIJ";
  const now = options.nowMs ?? Date.now;
  const held: (() => void)[] = [];
  const fake: Omit<FakeApns, "url" | "close"> = {
    holdAfter: undefined,
    release() {
      fake.holdAfter = undefined;
      for (const answer of held.splice(0)) answer();
    },
    caPem,
    signingKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    keyId,
    teamId,
    delivered: [],
    answered: [],
    unregistered: new Set(),
    script: [],
  };

  const server: Http2SecureServer = createSecureServer({ key: tlsKey, cert: caPem });
  // Clients keep HTTP/2 sessions open; close() ends them instead of waiting.
  const open = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    open.add(s);
    s.on("close", () => open.delete(s));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const path = String(headers[":path"] ?? "");
      const token = /^\/3\/device\/([^/?]+)$/.exec(path)?.[1] ?? "";
      const answer = (status: number, reason: string, extra: Record<string, string> = {}) => {
        // The client may be gone (a killed server): nothing to answer then.
        if (stream.destroyed || stream.closed) return;
        fake.answered.push({ token, status, reason });
        stream.respond({
          ":status": status,
          "apns-id": String(headers["apns-id"] ?? randomUUID()),
          ...(status === 200 ? {} : { "content-type": "application/json" }),
          ...extra,
        });
        if (status === 200) {
          stream.end();
          return;
        }
        const body: Record<string, unknown> = { reason };
        if (status === 410) body.timestamp = now();
        stream.end(JSON.stringify(body));
      };
      const scripted = fake.script.shift();
      if (scripted !== undefined) {
        answer(scripted.status, scripted.reason, scripted.headers);
        return;
      }
      if (headers[":method"] !== "POST") return answer(405, "MethodNotAllowed");
      if (token === "") return answer(404, "BadPath");
      if (!/^[0-9a-fA-F]{64,200}$/.test(token)) return answer(400, "BadDeviceToken");
      const jwt = verifyProviderToken(headers.authorization, publicKey, keyId, teamId, now());
      if (typeof jwt === "string") return answer(403, jwt);
      const topic = headers["apns-topic"];
      if (typeof topic !== "string" || topic === "") return answer(400, "MissingTopic");
      if (!options.topics.includes(topic)) return answer(400, "TopicDisallowed");
      const pushType = headers["apns-push-type"];
      if (pushType !== undefined && !VALID_PUSH_TYPES.has(String(pushType))) {
        return answer(400, "InvalidPushType");
      }
      const priority = headers["apns-priority"];
      if (priority !== undefined && !["5", "10", "1"].includes(String(priority))) {
        return answer(400, "BadPriority");
      }
      const expiration = headers["apns-expiration"];
      if (expiration !== undefined && !/^\d+$/.test(String(expiration))) {
        return answer(400, "BadExpirationDate");
      }
      const collapse = headers["apns-collapse-id"];
      if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) {
        return answer(400, "BadCollapseId");
      }
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) return answer(400, "PayloadEmpty");
      if (raw.length > 4096) return answer(413, "PayloadTooLarge");
      let payload: ApnsDelivery["payload"];
      try {
        payload = JSON.parse(raw.toString("utf8")) as ApnsDelivery["payload"];
        if (typeof payload.aps !== "object" || payload.aps === null) throw new Error("no aps");
      } catch {
        return answer(400, "BadRequest");
      }
      if (fake.unregistered.has(token)) return answer(410, "Unregistered");
      const hold = fake.holdAfter !== undefined && fake.delivered.length >= fake.holdAfter;
      fake.delivered.push({ token, headers, payload, jwt, at: Date.now() });
      if (hold) held.push(() => answer(200, ""));
      else answer(200, "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  // The same object the handlers read, so a test's `holdAfter` takes effect.
  return Object.assign(fake, {
    url: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  });
}

function verifyProviderToken(
  authorization: string | undefined,
  publicKey: KeyObject,
  keyId: string,
  teamId: string,
  nowMs: number,
): ApnsDelivery["jwt"] | string {
  const match = /^bearer (.+)$/.exec(authorization ?? "");
  if (match?.[1] === undefined) return "MissingProviderToken";
  const parts = match[1].split(".");
  if (parts.length !== 3) return "InvalidProviderToken";
  const [h, c, s] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(c, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return "InvalidProviderToken";
  }
  if (header.alg !== "ES256" || header.kid !== keyId || claims.iss !== teamId) {
    return "InvalidProviderToken";
  }
  const ok = verify(
    "sha256",
    Buffer.from(`${h}.${c}`),
    { key: publicKey, dsaEncoding: "ieee-p1363" },
    Buffer.from(s, "base64url"),
  );
  if (!ok) return "InvalidProviderToken";
  if (typeof claims.iat !== "number" || nowMs / 1000 - claims.iat > 3600) {
    return "ExpiredProviderToken";
  }
  return { header, claims };
}
