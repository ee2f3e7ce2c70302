import { type PushContent, truncateUtf8 } from "./push-text.js";

/** APNs' limit on a remote notification's payload. */
export const APNS_MAX_PAYLOAD_BYTES = 4096;

/**
 * The APNs JSON payload: aps.alert {title, subtitle, body}, badge, sound,
 * mutable-content; the reference's "ext" and the image URL at the top level
 * for the app. The body is cut (on a character boundary) so the whole payload
 * fits APNs' 4 KB.
 */
export function apnsPayload(content: PushContent, badge: number | undefined): string {
  const build = (body: string) => {
    const title = content.apns.title || content.title;
    const alert: Record<string, string> = {};
    if (title !== "") alert.title = title;
    if (content.apns.subtitle !== "") alert.subtitle = content.apns.subtitle;
    alert.body = body;
    const aps: Record<string, unknown> = { alert, sound: content.apns.sound || "default" };
    if (badge !== undefined) aps.badge = badge;
    if (content.apns.mutableContent) aps["mutable-content"] = 1;
    const payload: Record<string, unknown> = { aps };
    if (content.ext !== "") payload.ext = content.ext;
    if (content.apns.image !== "") payload.image = content.apns.image;
    return JSON.stringify(payload);
  };
  const full = build(content.body);
  if (Buffer.byteLength(full) <= APNS_MAX_PAYLOAD_BYTES) return full;
  // JSON escaping can grow the body; shrink until the encoded payload fits.
  let budget = APNS_MAX_PAYLOAD_BYTES - Buffer.byteLength(build(""));
  for (;;) {
    const cut = build(truncateUtf8(content.body, Math.max(0, budget)));
    const over = Buffer.byteLength(cut) - APNS_MAX_PAYLOAD_BYTES;
    if (over <= 0 || budget <= 0) return cut;
    budget -= over;
  }
}
