// Verifying a webhook request (signature scheme 2) in Node.js, no dependencies.
import { createHmac, timingSafeEqual } from "node:crypto";

const WINDOW_MS = 5 * 60_000;
const seen = new Map(); // event id -> when seen; a re-sent request within the window is refused

/** headers: Node's IncomingMessage.headers (lower-case names); rawBody: the bytes as received. */
export function verify(secret, rawBody, headers, nowMs = Date.now()) {
  const ts = headers["x-im-timestamp"] ?? "";
  if (headers["x-im-signature-version"] !== "2") return false;
  if (!/^\d+$/.test(ts) || Math.abs(nowMs - Number(ts)) > WINDOW_MS) return false;
  const signed = `${ts}.${headers["x-im-command"] ?? ""}.${headers["x-im-event-id"] ?? ""}.`;
  const expected = createHmac("sha256", secret).update(signed).update(rawBody).digest();
  const given = Buffer.from(headers["x-im-signature"] ?? "", "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  for (const [id, at] of seen) if (nowMs - at > 2 * WINDOW_MS) seen.delete(id);
  if (seen.has(headers["x-im-event-id"])) return false;
  seen.set(headers["x-im-event-id"], nowMs);
  return true;
}
