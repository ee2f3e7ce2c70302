import { toBinary } from "@bufbuild/protobuf";
import { type MessageElement, MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import type { BodyValidator } from "../../src/webhooks/index.js";

/** Reference default (12 KB); the server's limit is configurable, so is ours (--max-body-bytes). */
export const DEFAULT_MAX_BODY_BYTES = 12 * 1024;

/**
 * The simulator's check of a MODIFY result, following the element rules in
 * elements.proto (required fields, one custom element, size). The server passes
 * the messaging component's own validator to the same decision function; when
 * that validator is exported, this file should re-export it so the simulator
 * cannot drift from the server.
 */
export function createBodyValidator(maxBytes = DEFAULT_MAX_BODY_BYTES): BodyValidator {
  return (body, cloudCustomData) => {
    if (body.length === 0) return "body: at least one element is required";
    let customs = 0;
    for (const [i, element] of body.entries()) {
      const problem = elementProblem(element);
      if (problem !== undefined) return `body[${i}].${problem}`;
      if (element.element.case === "custom") customs += 1;
    }
    if (customs > 1) return "body: at most one custom element per message";
    // Same measure as the server: encoded (binary) element size plus custom data bytes.
    const size =
      body.reduce((n, e) => n + toBinary(MessageElementSchema, e).length, 0) +
      Buffer.byteLength(cloudCustomData);
    if (size > maxBytes) return `message is ${size} bytes; the limit is ${maxBytes}`;
    return undefined;
  };
}

function elementProblem({ element }: MessageElement): string | undefined {
  switch (element.case) {
    case undefined:
      return "element: no element type set";
    case "text":
      return element.value.text === "" ? "text.text: required" : undefined;
    case "location":
    case "face":
    case "custom":
      return undefined;
    case "sound":
      return required("sound", { url: element.value.url, uuid: element.value.uuid });
    case "file":
      return required("file", { url: element.value.url, uuid: element.value.uuid });
    case "image": {
      if (element.value.uuid === "") return "image.uuid: required";
      if (element.value.imageInfos.length === 0) return "image.imageInfos: at least one";
      const bad = element.value.imageInfos.findIndex((info) => info.url === "");
      return bad >= 0 ? `image.imageInfos[${bad}].url: required` : undefined;
    }
    case "video":
      return required("video", {
        videoUrl: element.value.videoUrl,
        videoUuid: element.value.videoUuid,
        thumbUrl: element.value.thumbUrl,
        thumbUuid: element.value.thumbUuid,
      });
    case "relay":
      return element.value.title === "" ? "relay.title: required" : undefined;
  }
}

function required(kind: string, fields: Record<string, string>): string | undefined {
  const missing = Object.entries(fields).find(([, v]) => v === "");
  return missing === undefined ? undefined : `${kind}.${missing[0]}: required`;
}
