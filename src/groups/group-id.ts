import { randomBytes } from "node:crypto";
import { ErrorReason, invalidArgument } from "../errors/domain-error.js";
import { GroupType } from "../gen/im/v1/group_pb.js";

/** Generated ids start with this; custom ids may not (reference: "Custom Group IDs"). */
export const GENERATED_PREFIX = "@TGS#";
/** Community ids carry this longer prefix ("The prefix of ... Community must be @TGS#_"). */
const COMMUNITY_PREFIX = "@TGS#_";
const MAX_BYTES = 48;
const PRINTABLE = /^[\x20-\x7e]+$/;

/** Throws INVALID_GROUP_ID unless `id` is 1-48 printable ASCII characters. */
export function assertGroupId(id: string, field = "group_id"): void {
  if (!PRINTABLE.test(id) || id.length > MAX_BYTES) {
    throw invalidArgument(
      ErrorReason.INVALID_GROUP_ID,
      `${field}: group id must be 1-${MAX_BYTES} printable ASCII characters`,
      { field },
    );
  }
}

/** A custom id also must not use the generated prefix. */
export function assertCustomGroupId(id: string): void {
  assertGroupId(id);
  if (id.startsWith(GENERATED_PREFIX)) {
    throw invalidArgument(
      ErrorReason.INVALID_GROUP_ID,
      `group_id: the prefix ${GENERATED_PREFIX} is reserved for generated ids`,
      { field: "group_id" },
    );
  }
}

/** Default generator: the type's prefix plus 16 random base32 characters (80 bits). */
export function generateGroupId(type: GroupType): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes = randomBytes(16);
  let suffix = "";
  for (const b of bytes) suffix += alphabet[b & 31];
  return (type === GroupType.COMMUNITY ? COMMUNITY_PREFIX : GENERATED_PREFIX) + suffix;
}
