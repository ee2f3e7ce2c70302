import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ImageFormat,
  ImageType,
  type MessageElement,
  MessageElementSchema,
} from "../../src/gen/im/v1/elements_pb.js";

export const text = (value: string): MessageElement =>
  create(MessageElementSchema, { element: { case: "text", value: { text: value } } });

/** One valid element of every type the contract defines. */
export function everyElement(): MessageElement[] {
  const el = (element: MessageInitShape<typeof MessageElementSchema>["element"]) =>
    create(MessageElementSchema, { element });
  return [
    text("hello"),
    el({ case: "location", value: { desc: "office", latitude: 29.34, longitude: 116.77 } }),
    el({ case: "face", value: { index: 1, data: "smile" } }),
    el({ case: "custom", value: { data: "{}", desc: "card", ext: "url", sound: "ding.aiff" } }),
    el({
      case: "sound",
      value: { url: "https://x/a", uuid: "u1", size: 10n, second: 1, downloadFlag: 2 },
    }),
    el({
      case: "image",
      value: {
        uuid: "img1",
        imageFormat: ImageFormat.PNG,
        imageInfos: [
          { type: ImageType.ORIGINAL, size: 100n, width: 10, height: 10, url: "https://x/i" },
        ],
      },
    }),
    el({
      case: "file",
      value: { url: "https://x/f", uuid: "f1", fileSize: 5n, fileName: "a.txt", downloadFlag: 2 },
    }),
    el({
      case: "video",
      value: {
        videoUrl: "https://x/v",
        videoUuid: "v1",
        videoSize: 9n,
        videoSecond: 3,
        videoFormat: "mp4",
        thumbUrl: "https://x/t",
        thumbUuid: "t1",
        thumbWidth: 10,
        thumbHeight: 10,
      },
    }),
    el({
      case: "relay",
      value: {
        title: "chat history",
        msgNum: 1,
        abstracts: ["A: hi"],
        messages: [{ fromAccount: "a", seq: 1n, body: [text("hi")] }],
      },
    }),
  ];
}
