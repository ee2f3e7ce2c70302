import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type MessageElement, MessageElementSchema } from "../gen/im/v1/elements_pb.js";
import { MessageReceiveOption } from "../gen/im/v1/group_pb.js";
import { type OfflinePushInfo, OfflinePushInfoSchema } from "../gen/im/v1/message_pb.js";
import { APNS_MAX_PAYLOAD_BYTES, apnsPayload } from "./apns-payload.js";
import { FCM_MAX_MESSAGE_BYTES, fcmMessage } from "./fcm-message.js";
import {
  bodyPushText,
  elementPushText,
  receiveOptionNotifies,
  renderPush,
  truncateUtf8,
} from "./push-text.js";

const el = (element: MessageInitShape<typeof MessageElementSchema>["element"]): MessageElement =>
  create(MessageElementSchema, { element });
const text = (t: string) => el({ case: "text", value: { text: t } });
const custom = (desc: string, ext = "", sound = "") =>
  el({ case: "custom", value: { data: "d", desc, ext, sound } });
const info = (init: MessageInitShape<typeof OfflinePushInfoSchema>): OfflinePushInfo =>
  create(OfflinePushInfoSchema, init);

describe("push text per element (the reference's APNs table)", () => {
  it.each([
    ["text", text("hello"), "hello"],
    ["location", el({ case: "location", value: { desc: "office" } }), "[Location]"],
    ["face", el({ case: "face", value: { index: 1 } }), "[Face]"],
    ["custom", custom("a card"), "a card"],
    ["image", el({ case: "image", value: { uuid: "i" } }), "[Image]"],
    ["file", el({ case: "file", value: { fileName: "a.txt" } }), "[File]"],
    ["sound", el({ case: "sound", value: { url: "u" } }), "[Voice]"],
    ["video", el({ case: "video", value: { videoUrl: "v" } }), "[Video]"],
    ["relay", el({ case: "relay", value: { title: "t" } }), "[Chat History]"],
  ])("%s", (_name, element, expected) => {
    expect(elementPushText(element)).toBe(expected);
  });

  it("joins elements with nothing between them", () => {
    expect(bodyPushText([text("hello"), custom("world")])).toBe("helloworld");
  });
});

describe("display format", () => {
  it.each([
    ["one-to-one, nickname", "Ann", undefined, "Ann: hi"],
    ["one-to-one, no nickname", "", undefined, "hi"],
    ["group, nickname", "Ann", "Team", "Ann (Team): hi"],
    ["group, no nickname", "", "Team", "(Team): hi"],
  ])("%s", (_name, senderNick, groupName, expected) => {
    const content = renderPush({
      body: [text("hi")],
      pushInfo: undefined,
      senderNick,
      ...(groupName === undefined ? {} : { groupName }),
    });
    expect(content?.body).toBe(expected);
  });
});

describe("OfflinePushInfo", () => {
  const render = (body: MessageElement[], pushInfo?: OfflinePushInfo) =>
    renderPush({ body, pushInfo, senderNick: "Ann", groupName: "Team" });

  it("PushFlag off: no push", () => {
    expect(render([text("hi")], info({ disabled: true, desc: "x" }))).toBeUndefined();
  });
  it("Desc replaces the whole line; Title and Ext pass through", () => {
    expect(render([text("hi")], info({ title: "T", desc: "D", ext: '{"k":1}' }))).toMatchObject({
      title: "T",
      body: "D",
      ext: '{"k":1}',
    });
  });
  it("a lone custom element without desc pushes nothing unless Desc is given", () => {
    expect(render([custom("")])).toBeUndefined();
    expect(render([custom("")], info({ desc: "D" }))?.body).toBe("D");
  });
  it("without OfflinePushInfo the custom element's Ext and Sound are used; with it they are ignored", () => {
    expect(render([custom("c", "e1", "ding.aiff")])).toMatchObject({
      ext: "e1",
      sound: "ding.aiff",
      apns: { sound: "ding.aiff" },
    });
    expect(render([custom("c", "e1", "ding.aiff")], info({ title: "T" }))).toMatchObject({
      ext: "",
      sound: "",
    });
  });
  it("ApnsInfo and AndroidInfo shape their platform", () => {
    const content = render(
      [text("hi")],
      info({
        title: "T",
        apns: {
          title: "AT",
          subtitle: "S",
          image: "https://i",
          mutableContent: true,
          sound: "a.caf",
          noBadge: true,
        },
        android: { sound: "a.mp3", googleChannelId: "chat" },
      }),
    )!;
    expect(JSON.parse(apnsPayload(content, undefined))).toEqual({
      aps: {
        alert: { title: "AT", subtitle: "S", body: "Ann (Team): hi" },
        sound: "a.caf",
        "mutable-content": 1,
      },
      image: "https://i",
    });
    expect(content.countsBadge).toBe(false);
    expect(fcmMessage(content, "g:1", 3)).toEqual({
      notification: { title: "T", body: "Ann (Team): hi" },
      android: {
        priority: "high",
        collapse_key: "g:1",
        notification: { sound: "a.mp3", channel_id: "chat", tag: "g:1", notification_count: 3 },
      },
      data: {},
    });
  });
  it("the reference's example payload: nickname, joined text, badge, sound, ext", () => {
    const content = renderPush({
      body: [text("hello"), custom("world", "www.qq.com", "dingdong.aiff")],
      pushInfo: undefined,
      senderNick: "Nickname",
    })!;
    expect(JSON.parse(apnsPayload(content, 5))).toEqual({
      aps: { alert: { body: "Nickname: helloworld" }, badge: 5, sound: "dingdong.aiff" },
      ext: "www.qq.com",
    });
  });
});

describe("receive options", () => {
  it.each([
    [MessageReceiveOption.UNSPECIFIED, false, true],
    [MessageReceiveOption.ACCEPT_AND_NOTIFY, false, true],
    [MessageReceiveOption.ACCEPT_NOT_NOTIFY, false, false],
    [MessageReceiveOption.ACCEPT_NOT_NOTIFY, true, false],
    [MessageReceiveOption.DISCARD, true, false],
    [MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT, false, false],
    [MessageReceiveOption.ACCEPT_NOT_NOTIFY_EXCEPT_AT, true, true],
  ])("option %i, mentioned %s → notify %s", (option, mentioned, expected) => {
    expect(receiveOptionNotifies(option, mentioned)).toBe(expected);
  });
});

describe("provider size limits", () => {
  it("cuts on character boundaries, never inside a surrogate pair", () => {
    expect(truncateUtf8("a😀b", 4)).toBe("a");
    expect(truncateUtf8("a😀b", 5)).toBe("a😀");
    expect(truncateUtf8("héllo", 2)).toBe("h");
  });
  it("keeps APNs payloads and FCM messages within 4 KB, text cut at a character", () => {
    const long = `${"界".repeat(3000)}"\\`;
    const content = renderPush({ body: [text(long)], pushInfo: undefined, senderNick: "Ann" })!;
    const payload = apnsPayload(content, 9);
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(APNS_MAX_PAYLOAD_BYTES);
    const body = (JSON.parse(payload) as { aps: { alert: { body: string } } }).aps.alert.body;
    expect(body.startsWith("Ann: 界界")).toBe(true);
    expect(Buffer.byteLength(payload)).toBeGreaterThan(APNS_MAX_PAYLOAD_BYTES - 4);
    const message = fcmMessage(content, "k", 1);
    expect(Buffer.byteLength(JSON.stringify(message))).toBeLessThanOrEqual(FCM_MAX_MESSAGE_BYTES);
    expect(message.notification.body.endsWith("界")).toBe(true);
  });
});
