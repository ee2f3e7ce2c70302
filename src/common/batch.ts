import { ErrorReason, invalidArgument, invalidField } from "../errors/domain-error.js";

/**
 * Throws INVALID_FIELD (empty) or TOO_MANY_ITEMS (over `max`) unless 1..max items,
 * naming `field`; `noun` names one item in the message.
 */
export function assertBatch(
  items: readonly unknown[],
  field: string,
  max: number,
  noun = "item",
): void {
  if (items.length === 0) throw invalidField(field, `at least one ${noun} is required`);
  if (items.length > max) {
    throw invalidArgument(
      ErrorReason.TOO_MANY_ITEMS,
      `${field}: at most ${max} ${noun}s per call`,
      {
        field,
      },
    );
  }
}
