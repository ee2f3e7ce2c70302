import { toJsonString } from "@bufbuild/protobuf";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import type { MessageContent } from "../../src/webhooks/index.js";

const elementJson = (e: MessageContent["body"][number]): string =>
  toJsonString(MessageElementSchema, e);

/**
 * A readable diff of what a MODIFY changed: one line per body element (as
 * proto JSON, position by position) and the custom data, `-` before, `+` after.
 * Unchanged elements are kept as context so positions are easy to follow.
 */
export function diffContent(before: MessageContent, after: MessageContent): string[] {
  const lines: string[] = [];
  const a = before.body.map(elementJson);
  const b = after.body.map(elementJson);
  if (a.join("\n") === b.join("\n")) {
    lines.push("body: unchanged");
  } else {
    lines.push("body:");
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const was = a[i];
      const now = b[i];
      if (was !== undefined && was === now) {
        lines.push(`    [${i}] ${was}`);
        continue;
      }
      if (was !== undefined) lines.push(`  - [${i}] ${was}`);
      if (now !== undefined) lines.push(`  + [${i}] ${now}`);
    }
  }
  if (before.cloudCustomData === after.cloudCustomData) {
    lines.push("cloudCustomData: unchanged");
  } else {
    lines.push("cloudCustomData:");
    lines.push(`  - ${JSON.stringify(before.cloudCustomData)}`);
    lines.push(`  + ${JSON.stringify(after.cloudCustomData)}`);
  }
  return lines;
}
