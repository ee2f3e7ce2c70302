import { invalidField } from "../errors/domain-error.js";

/** Reference limits ("Use Limits > Group profile"); fixed, not configurable there either. */
export const LIMITS = {
  nameBytes: 30,
  introductionBytes: 240,
  notificationBytes: 300,
  faceUrlBytes: 100,
  nameCardBytes: 50,
  applicationMessageBytes: 300,
  groupFieldValueBytes: 512,
  memberFieldValueBytes: 64,
} as const;

/** Throws INVALID_FIELD when `value` is longer than `max` UTF-8 bytes (or empty when required). */
export function assertText(value: string, field: string, max: number, required = false): void {
  if (required && value === "") throw invalidField(field, "required");
  if (Buffer.byteLength(value) > max) throw invalidField(field, `at most ${max} bytes`);
}
