import { toBinary } from "@bufbuild/protobuf";
import { DomainError, ErrorReason, invalidArgument } from "../errors/domain-error.js";
import { ImageType, type MessageElement, MessageElementSchema } from "../gen/im/v1/elements_pb.js";

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
      `the message is ${size} bytes; the limit is ${maxBytes}`,
      { field },
    );
  }
  return size;
}

/** The same check as a BodyValidator for webhook modifications: error text or undefined. */
export const bodyProblem =
  (maxBytes: number) => (body: readonly MessageElement[], cloudCustomData: string) => {
    try {
      validateBody(body, cloudCustomData, maxBytes);
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
