import { invalidField } from "../errors/domain-error.js";
import {
  CUSTOM_VALUE_MAX_BYTES,
  type CustomFieldDef,
  type CustomValue,
} from "../profiles/custom-fields.js";

/** Reference limits that are not worth a setting: they are part of the field formats. */
export const REMARK_MAX_BYTES = 96;
export const WORDING_MAX_BYTES = 256;
export const LIST_NAME_MAX_BYTES = 30;
const SOURCE = /^AddSource_Type_[A-Za-z]{1,8}$/;

const bytes = (s: string) => Buffer.byteLength(s);

export function assertRemark(remark: string, field: string): void {
  if (bytes(remark) > REMARK_MAX_BYTES)
    throw invalidField(field, `at most ${REMARK_MAX_BYTES} bytes`);
}

export function assertWording(wording: string, field: string): void {
  if (bytes(wording) > WORDING_MAX_BYTES)
    throw invalidField(field, `at most ${WORDING_MAX_BYTES} bytes`);
}

/** Empty, or AddSource_Type_ plus a keyword of 1-8 letters (reference rule). */
export function assertSource(source: string, field: string): void {
  if (source !== "" && !SOURCE.test(source)) {
    throw invalidField(field, "must be AddSource_Type_ followed by 1-8 letters");
  }
}

export function assertListName(name: string, field: string): void {
  if (name === "" || bytes(name) > LIST_NAME_MAX_BYTES) {
    throw invalidField(field, `a friend list name is 1-${LIST_NAME_MAX_BYTES} bytes`);
  }
}

/**
 * Validates custom friend field writes against the registered ones (type and the
 * 500-byte limit). Returns what to set and what to clear (empty values clear).
 */
export function customFriendChange(
  defs: ReadonlyMap<string, CustomFieldDef>,
  values: Readonly<Record<string, CustomValue | undefined>>,
  field: string,
): { set: Record<string, CustomValue>; unset: string[] } {
  const set: Record<string, CustomValue> = {};
  const unset: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const path = `${field}.${name}`;
    const def = defs.get(name);
    if (def === undefined)
      throw invalidField(path, `${name} is not a registered custom friend field`);
    if (value === undefined) throw invalidField(path, "a value is required");
    if (def.type === "bytes" ? typeof value === "string" : typeof value !== "string") {
      throw invalidField(path, `${name} holds ${def.type}`);
    }
    const length = typeof value === "string" ? bytes(value) : value.byteLength;
    if (length > CUSTOM_VALUE_MAX_BYTES)
      throw invalidField(path, `at most ${CUSTOM_VALUE_MAX_BYTES} bytes`);
    if (length === 0) unset.push(name);
    else set[name] = value;
  }
  return { set, unset };
}
