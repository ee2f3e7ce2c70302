import { ErrorReason, invalidArgument, invalidField } from "../errors/domain-error.js";

/** Throws INVALID_FIELD (empty) or TOO_MANY_ITEMS (over `max`) unless 1..max items, naming `field`. */
export function assertBatch(items: readonly unknown[], field: string, max: number): void {
  if (items.length === 0) throw invalidField(field, "at least one item is required");
  if (items.length > max) {
    throw invalidArgument(ErrorReason.TOO_MANY_ITEMS, `${field}: at most ${max} items per call`, {
      field,
    });
  }
}
