import type { FcmMessage } from "./fcm-sender.js";
import { type PushContent, truncateUtf8 } from "./push-text.js";

/** FCM's limit on a message's payload. */
export const FCM_MAX_MESSAGE_BYTES = 4096;

/**
 * The FCM HTTP v1 message: notification title/body, android sound, channel id,
 * a collapse key and tag (the message key, so a repeat replaces the shown
 * notification) and the badge as notification_count; "ext" in data. The body
 * is cut on a character boundary so the message fits FCM's 4 KB.
 */
export function fcmMessage(
  content: PushContent,
  collapseKey: string,
  badge: number | undefined,
): FcmMessage {
  const build = (body: string): FcmMessage => ({
    notification: { ...(content.title === "" ? {} : { title: content.title }), body },
    android: {
      priority: "high",
      collapse_key: collapseKey,
      notification: {
        ...(content.android.sound === "" ? {} : { sound: content.android.sound }),
        ...(content.android.channelId === "" ? {} : { channel_id: content.android.channelId }),
        tag: collapseKey,
        ...(badge === undefined ? {} : { notification_count: badge }),
      },
    },
    data: content.ext === "" ? {} : { ext: content.ext },
  });
  const size = (m: FcmMessage) => Buffer.byteLength(JSON.stringify(m));
  const full = build(content.body);
  if (size(full) <= FCM_MAX_MESSAGE_BYTES) return full;
  let budget = FCM_MAX_MESSAGE_BYTES - size(build(""));
  for (;;) {
    const cut = build(truncateUtf8(content.body, Math.max(0, budget)));
    const over = size(cut) - FCM_MAX_MESSAGE_BYTES;
    if (over <= 0 || budget <= 0) return cut;
    budget -= over;
  }
}
