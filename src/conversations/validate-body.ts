import { toBinary } from "@bufbuild/protobuf";
import { enumFromRequest } from "../common/proto-enum.js";
import { DomainError, ErrorReason, invalidArgument, invalidField } from "../errors/domain-error.js";
import {
  ImageFormatSchema,
  ImageType,
  type MessageElement,
  MessageElementSchema,
} from "../gen/im/v1/elements_pb.js";
import { type OfflinePushInfo, OfflinePushInfoSchema } from "../gen/im/v1/message_pb.js";

/** The size limits every send path applies to what a message carries. */
export interface MessageLimits {
  /** Everything a message carries, encoded: body, cloud custom data, push info. */
  maxMessageBytes: number;
  /** Push title + desc + ext (reference: keep Desc and Ext within 3 KB for APNs' 4 KB). */
  maxPushInfoBytes: number;
}

/** What a send carries besides its routing: all of it counts toward the size limit. */
export interface MessageContent {
  body: readonly MessageElement[];
  cloudCustomData: string;
  offlinePushInfo?: OfflinePushInfo | undefined;
}

/**
 * Validates a whole message: elements, push info and the total size of
 * everything it carries (the body, cloud custom data and push info all count,
 * so no field bypasses MESSAGE_TOO_LARGE). Returns the encoded size.
 */
export function validateMessage(content: MessageContent, limits: MessageLimits): number {
  const pushBytes = pushInfoBytes(content.offlinePushInfo);
  const size = validateBody(
    content.body,
    content.cloudCustomData,
    limits.maxMessageBytes - pushBytes,
    "body",
    pushBytes,
  );
  // The total is checked first (MESSAGE_TOO_LARGE), then the push fields' own budget.
  validatePushInfo(content.offlinePushInfo, limits.maxPushInfoBytes);
  return size + pushBytes;
}

/** Encoded size of the push info, as it is stored and delivered with the message. */
export const pushInfoBytes = (info: OfflinePushInfo | undefined): number =>
  info === undefined ? 0 : toBinary(OfflinePushInfoSchema, info).length;

function validatePushInfo(info: OfflinePushInfo | undefined, maxBytes: number): void {
  if (info === undefined) return;
  let used = 0;
  for (const [name, value] of [
    ["title", info.title],
    ["desc", info.desc],
    ["ext", info.ext],
  ] as const) {
    used += Buffer.byteLength(value);
    if (used > maxBytes) {
      throw invalidField(
        `offline_push_info.${name}`,
        `title, desc and ext together are at most ${maxBytes} bytes`,
      );
    }
  }
}

/** The download flag the reference requires when a flag is given: download from the URL. */
const DOWNLOAD_FROM_URL = 2;

const invalidElement = (field: string, message: string) =>
  invalidArgument(ErrorReason.INVALID_ELEMENT, `${field}: ${message}`, { field });

/**
 * Checks a message body against the reference's element rules and the size
 * limit. Throws a DomainError naming the first bad field; returns the body's
 * encoded size.
 */
export function validateBody(
  body: readonly MessageElement[],
  cloudCustomData: string,
  maxBytes: number,
  field = "body",
  /** Bytes the rest of the message already carries, reported in the error. */
  otherBytes = 0,
): number {
  if (body.length === 0) {
    throw invalidArgument(ErrorReason.MESSAGE_BODY_EMPTY, "the message body has no element", {
      field,
    });
  }
  let customs = 0;
  let size = Buffer.byteLength(cloudCustomData);
  body.forEach((element, i) => {
    const at = `${field}[${i}]`;
    validateElement(element, at, maxBytes);
    if (element.element.case === "custom" && ++customs > 1) {
      throw invalidArgument(
        ErrorReason.TOO_MANY_CUSTOM_ELEMENTS,
        "at most one custom element per message",
        {
          field: at,
        },
      );
    }
    size += toBinary(MessageElementSchema, element).length;
  });
  if (size > maxBytes) {
    throw invalidArgument(
      ErrorReason.MESSAGE_TOO_LARGE,
      `the message is ${size + otherBytes} bytes; the limit is ${maxBytes + otherBytes}`,
      { field },
    );
  }
  return size;
}

/**
 * The same check as a BodyValidator for webhook modifications: error text or
 * undefined. The push info is not modifiable, but still counts toward the size.
 */
export const bodyProblem =
  (limits: MessageLimits, offlinePushInfo?: OfflinePushInfo) =>
  (body: readonly MessageElement[], cloudCustomData: string) => {
    try {
      validateMessage({ body, cloudCustomData, offlinePushInfo }, limits);
      return undefined;
    } catch (err) {
      if (err instanceof DomainError) return err.message;
      throw err;
    }
  };

function validateElement(element: MessageElement, at: string, maxBytes: number): void {
  const e = element.element;
  const required = (value: string, name: string) => {
    if (value === "") throw invalidElement(`${at}.${e.case}.${name}`, "required");
  };
  const flag = (value: number, name: string) => {
    if (value !== 0 && value !== DOWNLOAD_FROM_URL) {
      throw invalidElement(`${at}.${e.case}.${name}`, "must be 2 (download from the URL) when set");
    }
  };
  switch (e.case) {
    case undefined:
      throw invalidElement(at, "no element type is set");
    case "text":
      required(e.value.text, "text");
      return;
    case "location": {
      const { latitude, longitude } = e.value;
      if (!Number.isFinite(latitude) || Math.abs(latitude) > 90) {
        throw invalidElement(`${at}.location.latitude`, "must be within -90..90");
      }
      if (!Number.isFinite(longitude) || Math.abs(longitude) > 180) {
        throw invalidElement(`${at}.location.longitude`, "must be within -180..180");
      }
      return;
    }
    case "face":
    case "custom":
      return;
    case "sound":
      required(e.value.url, "url");
      required(e.value.uuid, "uuid");
      flag(e.value.downloadFlag, "download_flag");
      return;
    case "image":
      required(e.value.uuid, "uuid");
      enumFromRequest(ImageFormatSchema, e.value.imageFormat, `${at}.image.image_format`);
      if (e.value.imageInfos.length === 0)
        throw invalidElement(`${at}.image.image_infos`, "at least one rendition");
      e.value.imageInfos.forEach((info, j) => {
        if (!(info.type in ImageType) || info.type === ImageType.UNSPECIFIED) {
          throw invalidElement(
            `${at}.image.image_infos[${j}].type`,
            "original, large or thumbnail required",
          );
        }
        if (info.url === "") throw invalidElement(`${at}.image.image_infos[${j}].url`, "required");
      });
      return;
    case "file":
      required(e.value.url, "url");
      required(e.value.uuid, "uuid");
      flag(e.value.downloadFlag, "download_flag");
      return;
    case "video":
      required(e.value.videoUrl, "video_url");
      required(e.value.videoUuid, "video_uuid");
      required(e.value.thumbUrl, "thumb_url");
      required(e.value.thumbUuid, "thumb_uuid");
      flag(e.value.videoDownloadFlag, "video_download_flag");
      flag(e.value.thumbDownloadFlag, "thumb_download_flag");
      return;
    case "relay":
      required(e.value.title, "title");
      if (e.value.messages.length === 0 && e.value.jsonMsgKey === "") {
        throw invalidElement(`${at}.relay.messages`, "messages or json_msg_key required");
      }
      for (const [j, m] of e.value.messages.entries()) {
        validateBody(m.body, m.cloudCustomData, maxBytes, `${at}.relay.messages[${j}].body`);
      }
      return;
  }
}
