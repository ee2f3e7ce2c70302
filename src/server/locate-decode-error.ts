import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** protobuf-es's default, which the server's parser uses. */
const RECURSION_LIMIT = 100;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Names the field of a binary message that fails to decode, as a dotted path of
 * proto names ("body[0].text.text"), so a client's undecodable request can be
 * answered with the field at fault. protobuf-es reports what failed but not
 * where; this walks the wire format with the schema to the first failure.
 * Returns "" when the failure is not inside a known field.
 */
export function locateDecodeError(desc: DescMessage, bytes: Uint8Array): string {
  const reader = new BinaryReader(bytes);
  return walk(desc, reader, bytes.byteLength, "", 1) ?? "";
}

function walk(
  desc: DescMessage,
  reader: BinaryReader,
  end: number,
  path: string,
  depth: number,
): string | undefined {
  if (depth > RECURSION_LIMIT) return path;
  const seen = new Map<number, number>();
  while (reader.pos < end) {
    let fieldNo: number;
    let wireType: WireType;
    try {
      [fieldNo, wireType] = reader.tag();
    } catch {
      return path;
    }
    const field = desc.fields.find((f) => f.number === fieldNo);
    if (field === undefined) {
      try {
        reader.skip(wireType, fieldNo, RECURSION_LIMIT - depth);
      } catch {
        return path;
      }
      continue;
    }
    const index = seen.get(fieldNo) ?? 0;
    seen.set(fieldNo, index + 1);
    const at = join(path, field, index);
    try {
      const found = readField(field, wireType, reader, at, depth);
      if (found !== undefined) return found;
    } catch {
      return at;
    }
  }
  return undefined;
}

function readField(
  field: DescField,
  wireType: WireType,
  reader: BinaryReader,
  at: string,
  depth: number,
): string | undefined {
  const message =
    field.fieldKind === "message"
      ? field.message
      : field.fieldKind === "list" && field.listKind === "message"
        ? field.message
        : undefined;
  if (message !== undefined && wireType === WireType.LengthDelimited) {
    const len = reader.uint32();
    const end = reader.pos + len;
    if (end > reader.len) return at;
    return walk(message, reader, end, at, depth + 1);
  }
  const isString =
    (field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar")) &&
    field.scalar === ScalarType.STRING;
  if (isString && wireType === WireType.LengthDelimited) {
    strictUtf8.decode(reader.bytes());
    return undefined;
  }
  reader.skip(wireType, field.number, RECURSION_LIMIT - depth);
  return undefined;
}

function join(path: string, field: DescField, index: number): string {
  const name = path === "" ? field.name : `${path}.${field.name}`;
  return field.fieldKind === "list" ? `${name}[${index}]` : name;
}

/**
 * The JSON counterpart: names the field of a JSON request the decoder refused
 * where its error does not (an unknown enum name, an unknown key). Returns ""
 * when nothing is found.
 */
export function locateJsonError(desc: DescMessage, text: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return "";
  }
  return walkJson(desc, json, "", 1) ?? "";
}

function walkJson(
  desc: DescMessage,
  json: unknown,
  path: string,
  depth: number,
): string | undefined {
  if (depth > RECURSION_LIMIT || typeof json !== "object" || json === null || Array.isArray(json)) {
    return undefined;
  }
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    const at = path === "" ? (field?.name ?? key) : `${path}.${field?.name ?? key}`;
    if (field === undefined) return at;
    if (value === null) continue;
    const items: unknown[] = field.fieldKind === "list" && Array.isArray(value) ? value : [value];
    for (const [i, item] of items.entries()) {
      const itemAt = field.fieldKind === "list" ? `${at}[${i}]` : at;
      const enumDesc =
        field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum")
          ? field.enum
          : undefined;
      if (enumDesc !== undefined) {
        const known = typeof item === "number" || enumDesc.values.some((v) => v.name === item);
        if (!known) return itemAt;
      }
      const message =
        field.fieldKind === "message" ||
        (field.fieldKind === "list" && field.listKind === "message")
          ? field.message
          : undefined;
      if (message !== undefined && !message.typeName.startsWith("google.protobuf.")) {
        const found = walkJson(message, item, itemAt, depth + 1);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}
