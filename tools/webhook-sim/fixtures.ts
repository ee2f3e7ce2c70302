import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ImageFormat, ImageType } from "../../src/gen/im/v1/elements_pb.js";
import { Platform } from "../../src/gen/im/v1/events_pb.js";
import {
  GroupMemberExitType,
  GroupMemberJoinType,
  UserStateAction,
  type WebhookRequest,
  WebhookRequestSchema,
} from "../../src/gen/im/v1/webhook_pb.js";
import { commandOfCase, eventNameOfCase } from "../../src/webhooks/index.js";
import { type RecordLine, recordLineFor } from "./events-file.js";

// Fixed ids and times so fixture files are byte-for-byte reproducible.
const APP_ID = "1400000000";
const BASE_TIME_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z

type EventInit = NonNullable<MessageInitShape<typeof WebhookRequestSchema>["event"]> & {
  case: NonNullable<WebhookRequest["event"]["case"]>;
};

export interface Fixture {
  name: string;
  request: WebhookRequest;
}

const text = (t: string) => ({ element: { case: "text" as const, value: { text: t } } });

// At least one sample per event type, covering the element kinds developers trip over.
const SAMPLES: [string, EventInit][] = [
  [
    "text message",
    {
      case: "c2cBeforeSend",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        clientMsgId: "c-0001",
        random: 1001,
        body: [text("hello bob")],
      },
    },
  ],
  [
    "text with a word apps often filter",
    {
      case: "c2cBeforeSend",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        clientMsgId: "c-0002",
        random: 1002,
        body: [text("buy cheap followers at spam.example")],
      },
    },
  ],
  [
    "image, custom element and cloud custom data",
    {
      case: "c2cBeforeSend",
      value: {
        fromAccount: "bob",
        toAccount: "alice",
        clientMsgId: "c-0003",
        random: 1003,
        body: [
          {
            element: {
              case: "image",
              value: {
                uuid: "img-7f3a",
                imageFormat: ImageFormat.JPG,
                imageInfos: [
                  {
                    type: ImageType.ORIGINAL,
                    size: 204800n,
                    width: 1280,
                    height: 960,
                    url: "https://cdn.example/img-7f3a.jpg",
                  },
                  {
                    type: ImageType.THUMBNAIL,
                    size: 8192n,
                    width: 198,
                    height: 148,
                    url: "https://cdn.example/img-7f3a-t.jpg",
                  },
                ],
              },
            },
          },
          {
            element: {
              case: "custom",
              value: { data: '{"kind":"order","id":42}', desc: "Order #42", ext: "", sound: "" },
            },
          },
        ],
        cloudCustomData: '{"priority":"high"}',
      },
    },
  ],
  [
    "online-only message",
    {
      case: "c2cBeforeSend",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        random: 1004,
        body: [text("typing…")],
        onlineOnly: true,
      },
    },
  ],
  [
    "delivered message",
    {
      case: "c2cAfterSend",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        clientMsgId: "c-0001",
        random: 1001,
        body: [text("hello bob")],
        seq: 17n,
        msgKey: "c2c_alice_bob_17",
        msgTimeMs: BigInt(BASE_TIME_MS),
      },
    },
  ],
  [
    "text message",
    {
      case: "groupBeforeSend",
      value: {
        fromAccount: "carol",
        groupId: "@TGS#2WORKGROUP",
        clientMsgId: "g-0001",
        random: 2001,
        body: [text("standup in 5")],
      },
    },
  ],
  [
    "delivered message",
    {
      case: "groupAfterSend",
      value: {
        fromAccount: "carol",
        groupId: "@TGS#2WORKGROUP",
        clientMsgId: "g-0001",
        random: 2001,
        body: [text("standup in 5")],
        seq: 101n,
        msgKey: "group_@TGS#2WORKGROUP_101",
        msgTimeMs: BigInt(BASE_TIME_MS),
      },
    },
  ],
  [
    "group created",
    {
      case: "groupAfterCreate",
      value: {
        groupId: "@TGS#2WORKGROUP",
        name: "Platform team",
        ownerAccount: "carol",
        operatorAccount: "carol",
        memberAccounts: ["alice", "bob"],
      },
    },
  ],
  [
    "member invited",
    {
      case: "groupAfterMemberJoin",
      value: {
        groupId: "@TGS#2WORKGROUP",
        joinType: GroupMemberJoinType.INVITE,
        operatorAccount: "carol",
        memberAccounts: ["dave"],
      },
    },
  ],
  [
    "member kicked",
    {
      case: "groupAfterMemberExit",
      value: {
        groupId: "@TGS#2WORKGROUP",
        exitType: GroupMemberExitType.KICKED,
        operatorAccount: "carol",
        memberAccounts: ["dave"],
      },
    },
  ],
  [
    "group disbanded",
    {
      case: "groupAfterDisband",
      value: {
        groupId: "@TGS#2WORKGROUP",
        name: "Platform team",
        ownerAccount: "carol",
        operatorAccount: "carol",
      },
    },
  ],
  [
    "sender recalled a message",
    {
      case: "c2cAfterRecall",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        seq: 17n,
        msgKey: "c2c:alice:bob:17",
        msgTimeMs: BigInt(BASE_TIME_MS),
        recalledByAccount: "alice",
        recalledAtMs: BigInt(BASE_TIME_MS + 30_000),
      },
    },
  ],
  [
    "admin recalled a member's message",
    {
      case: "groupAfterRecall",
      value: {
        groupId: "@TGS#2WORKGROUP",
        fromAccount: "dave",
        seq: 102n,
        msgKey: "@TGS#2WORKGROUP:102",
        msgTimeMs: BigInt(BASE_TIME_MS),
        recalledByAccount: "carol",
        recalledAtMs: BigInt(BASE_TIME_MS + 600_000),
      },
    },
  ],
  [
    "sender fixes a typo",
    {
      case: "c2cBeforeEdit",
      value: {
        fromAccount: "alice",
        toAccount: "bob",
        seq: 17n,
        msgKey: "c2c:alice:bob:17",
        body: [text("hello, bob")],
        editVersion: 1,
        editorAccount: "alice",
      },
    },
  ],
  [
    "edit to a word apps often filter",
    {
      case: "groupBeforeEdit",
      value: {
        groupId: "@TGS#2WORKGROUP",
        fromAccount: "carol",
        seq: 101n,
        msgKey: "@TGS#2WORKGROUP:101",
        body: [text("standup moved, buy cheap followers at spam.example")],
        editVersion: 2,
        editorAccount: "carol",
      },
    },
  ],

  ...(
    [
      ["login on a phone", "alice", "alice-iphone", Platform.IOS, UserStateAction.LOGIN, ""],
      ["logout", "alice", "alice-iphone", Platform.IOS, UserStateAction.LOGOUT, "LOGOUT"],
      [
        "phone lost its connection (PushOnline now)",
        "bob",
        "bob-android",
        Platform.ANDROID,
        UserStateAction.DISCONNECT,
        "HEARTBEAT_TIMEOUT",
      ],
      [
        "kicked by a login on another desktop",
        "carol",
        "carol-mac",
        Platform.MACOS,
        UserStateAction.KICKED,
        "LOGIN_ELSEWHERE",
      ],
    ] as const
  ).map(([label, userAccount, deviceId, platform, action, reason]): [string, EventInit] => [
    label,
    { case: "userAfterStateChange", value: { userAccount, deviceId, platform, action, reason } },
  ]),
];

/** The built-in sample events, one or more per event type, in a stable order. */
export function fixtures(): Fixture[] {
  return SAMPLES.map(([label, event], i) => {
    const name = `${eventNameOfCase(event.case)}: ${label}`;
    const request = create(WebhookRequestSchema, {
      command: commandOfCase(event.case),
      appId: APP_ID,
      eventTimeMs: BigInt(BASE_TIME_MS + i * 1000),
      eventId: `fixture-${String(i + 1).padStart(2, "0")}`,
      event,
    });
    return { name, request };
  });
}

export const fixtureLines = (): RecordLine[] =>
  fixtures().map((f) => recordLineFor(f.request, { name: f.name }));
