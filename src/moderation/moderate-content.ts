import { create } from "@bufbuild/protobuf";
import { ErrorReason, invalidArgument } from "../errors/domain-error.js";
import {
  CustomElementSchema,
  type MessageElement,
  MessageElementSchema,
  TextElementSchema,
} from "../gen/im/v1/elements_pb.js";
import { type KeywordMatcher, maskRanges } from "./keyword-matcher.js";

/** The part of a message moderation reads (the pipeline's Content). */
export interface ModeratedContent {
  body: MessageElement[];
  cloudCustomData: string;
}

/**
 * Applies the keyword rules to the text of text elements and the text fields
 * (data, desc, ext) of custom elements. A `reject` keyword anywhere refuses
 * the message with KEYWORD_REJECTED naming the field; `replace` keywords are
 * masked with `*`. Returns `content` itself when nothing matched; a masked
 * body never grows (one `*` per character), so size limits still hold.
 */
export function moderateContent<C extends ModeratedContent>(
  matcher: KeywordMatcher,
  content: C,
): C {
  if (matcher.size === 0) return content;
  let body: MessageElement[] | undefined;
  const check = (text: string, field: string): string => {
    const found = matcher.scan(text);
    if (found.reject) {
      throw invalidArgument(
        ErrorReason.KEYWORD_REJECTED,
        `${field} contains a word this app does not allow`,
        { field },
      );
    }
    return found.replace.length === 0 ? text : maskRanges(text, found.replace);
  };
  content.body.forEach((element, i) => {
    const e = element.element;
    let replaced: MessageElement | undefined;
    if (e.case === "text") {
      const text = check(e.value.text, `body[${i}].text.text`);
      if (text !== e.value.text) {
        replaced = create(MessageElementSchema, {
          element: { case: "text", value: create(TextElementSchema, { text }) },
        });
      }
    } else if (e.case === "custom") {
      const at = `body[${i}].custom`;
      const data = check(e.value.data, `${at}.data`);
      const desc = check(e.value.desc, `${at}.desc`);
      const ext = check(e.value.ext, `${at}.ext`);
      if (data !== e.value.data || desc !== e.value.desc || ext !== e.value.ext) {
        replaced = create(MessageElementSchema, {
          element: {
            case: "custom",
            value: create(CustomElementSchema, { ...e.value, data, desc, ext }),
          },
        });
      }
    }
    if (replaced !== undefined) {
      body ??= [...content.body];
      body[i] = replaced;
    }
  });
  return body === undefined ? content : { ...content, body };
}
