import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import { MessageReceiveOption } from "../gen/im/v1/group_pb.js";
import type { OfflinePushInfo } from "../gen/im/v1/message_pb.js";

/**
 * Push text of one element, per the reference's APNs display rules: text as
 * is, a custom element's desc, a fixed English tag for the other kinds.
 */
export function elementPushText(element: MessageElement): string {
  const e = element.element;
  switch (e.case) {
    case "text":
      return e.value.text;
    case "custom":
      return e.value.desc;
    case "location":
      return "[Location]";
    case "face":
      return "[Face]";
    case "image":
      return "[Image]";
    case "file":
      return "[File]";
    case "sound":
      return "[Voice]";
    case "video":
      return "[Video]";
    case "relay":
      return "[Chat History]";
    default:
      return "";
  }
}

/** The elements' push texts joined with nothing between (the reference adds no separators). */
export const bodyPushText = (body: readonly MessageElement[]): string =>
  body.map(elementPushText).join("");

/** What a notification says, before it is shaped for a provider. */
export interface PushContent {
  /** Empty: no title. */
  title: string;
  body: string;
  /** Passed through to the app (APNs top-level "ext", FCM data.ext). */
  ext: string;
  /** Empty: the platform default. */
  sound: string;
  /** False: this message leaves the badge as it is (ApnsInfo.BadgeMode 1). */
  countsBadge: boolean;
  apns: { title: string; subtitle: string; image: string; mutableContent: boolean; sound: string };
  android: { sound: string; channelId: string };
}

export interface PushSource {
  body: readonly MessageElement[];
  pushInfo: OfflinePushInfo | undefined;
  /** The sender's nickname; empty when they have none. */
  senderNick: string;
  /** Set for group messages. */
  groupName?: string;
}

/**
 * The notification for a message, or undefined when it pushes nothing: push
 * disabled, or no text at all (a custom element without desc and no
 * OfflinePushInfo.desc, as in the reference). OfflinePushInfo.desc replaces the
 * whole line; otherwise "nickname: text" one-to-one and "nickname (group): text"
 * in groups, without the nickname when the sender has none.
 */
export function renderPush(src: PushSource): PushContent | undefined {
  const info = src.pushInfo;
  if (info?.disabled === true) return undefined;
  const customs = src.body.flatMap((e) => (e.element.case === "custom" ? [e.element.value] : []));
  let body: string;
  if (info !== undefined && info.desc !== "") {
    body = info.desc;
  } else {
    const text = bodyPushText(src.body);
    if (text === "") return undefined;
    body = `${prefixOf(src.senderNick, src.groupName)}${text}`;
  }
  // The reference: a filled-in OfflinePushInfo makes the custom element's push settings ignored.
  const custom = info === undefined ? customs[0] : undefined;
  const sound = custom?.sound ?? "";
  return {
    title: info?.title ?? "",
    body,
    ext: info?.ext || custom?.ext || "",
    sound,
    countsBadge: info?.apns?.noBadge !== true,
    apns: {
      title: info?.apns?.title ?? "",
      subtitle: info?.apns?.subtitle ?? "",
      image: info?.apns?.image ?? "",
      mutableContent: info?.apns?.mutableContent === true,
      sound: info?.apns?.sound || sound,
    },
    android: {
      sound: info?.android?.sound || sound,
      channelId: info?.android?.googleChannelId ?? "",
    },
  };
}

function prefixOf(nick: string, groupName: string | undefined): string {
  if (groupName === undefined) return nick === "" ? "" : `${nick}: `;
  return nick === "" ? `(${groupName}): ` : `${nick} (${groupName}): `;
}

/**
 * Whether a group member's receive option lets a message notify them:
 * ACCEPT_AND_NOTIFY (and unset) does; ACCEPT_NOT_NOTIFY and DISCARD do not;
 * ACCEPT_NOT_NOTIFY_EXCEPT_AT only when the message @-mentions them or everyone.
 */
export function receiveOptionNotifies(option: MessageReceiveOption, mentioned: boolean): boolean {
  switch (option) {
    case MessageReceiveOption.ACCEPT_NOT_NOTIFY:
    case MessageReceiveOption.DISCARD:
      return false;
    case MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT:
      return mentioned;
    default:
      return true;
  }
}

/**
 * The longest prefix of `text` within `maxBytes` of UTF-8, cut on a character
 * (code point) boundary, never inside a surrogate pair.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > maxBytes) break;
    used += n;
    end += ch.length;
  }
  return text.slice(0, end);
}
