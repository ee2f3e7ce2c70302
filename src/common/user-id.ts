import { ErrorReason, invalidArgument } from "../errors/domain-error.js";
import { assertBatch } from "./batch.js";

const USER_ID = /^[A-Za-z0-9_-]{1,32}$/;

export const isValidUserId = (id: string): boolean => USER_ID.test(id);

/** Throws INVALID_USER_ID naming `field` unless `id` is 1-32 bytes of [A-Za-z0-9_-]. */
export function assertUserId(id: string, field: string): void {
  if (!isValidUserId(id)) {
    throw invalidArgument(
      ErrorReason.INVALID_USER_ID,
      `${field}: user id must be 1-32 characters of [A-Za-z0-9_-]`,
      { field },
    );
  }
}

/** Validates a batch of user ids: non-empty, at most `max`, each valid. Returns them de-duplicated. */
export function assertUserIdBatch(ids: readonly string[], field: string, max: number): string[] {
  assertBatch(ids, field, max, "user id");
  for (const [i, id] of ids.entries()) assertUserId(id, `${field}[${i}]`);
  return [...new Set(ids)];
}
