import {
  ErrorReason,
  invalidArgument,
  invalidField,
  permissionDenied,
} from "../errors/domain-error.js";
import { ACTOR_RANK } from "./actor.js";
import type { CustomFieldSpec, FieldLevel } from "./config.js";
import type { Actor } from "./group-types.js";
import type { FieldChanges, FieldValues } from "./store.js";

const LEVEL_RANK: Record<FieldLevel, number> = {
  anyone: 0,
  member: 1,
  admin: 2,
  owner: 3,
  appAdmin: 4,
};

export const mayUseLevel = (actor: Actor, level: FieldLevel): boolean =>
  ACTOR_RANK[actor] >= LEVEL_RANK[level];

/**
 * Validates requested custom field writes: every key configured, values within
 * `maxBytes`, and `actor` at or above each key's write level. Returns the
 * changes (empty value deletes). Throws before anything is written.
 */
export function customFieldChanges(
  fields: readonly { key: string; value: Uint8Array }[],
  specs: ReadonlyMap<string, CustomFieldSpec>,
  actor: Actor,
  maxBytes: number,
): FieldChanges | undefined {
  if (fields.length === 0) return undefined;
  const changes: FieldChanges = {};
  fields.forEach(({ key, value }, i) => {
    const field = `custom_fields[${i}]`;
    const spec = specs.get(key);
    if (spec === undefined) {
      throw invalidArgument(
        ErrorReason.UNKNOWN_CUSTOM_FIELD,
        `${field}: "${key}" is not a configured key`,
        {
          field: `${field}.key`,
        },
      );
    }
    if (key in changes) throw invalidField(`${field}.key`, "duplicate key");
    if (value.length > maxBytes) throw invalidField(`${field}.value`, `at most ${maxBytes} bytes`);
    if (!mayUseLevel(actor, spec.write)) {
      throw permissionDenied(ErrorReason.GROUP_PERMISSION_DENIED, `you may not write "${key}"`, {
        field: `${field}.key`,
      });
    }
    changes[key] = value.length === 0 ? null : value;
  });
  return changes;
}

/** The stored values `actor` may read, in key order, as proto CustomField shapes. */
export function readableFields(
  values: FieldValues,
  specs: ReadonlyMap<string, CustomFieldSpec>,
  actor: Actor,
): { key: string; value: Uint8Array }[] {
  return Object.keys(values)
    .sort()
    .flatMap((key) => {
      const spec = specs.get(key);
      const value = values[key];
      // Keys dropped from the config are no longer served.
      if (spec === undefined || value === undefined || !mayUseLevel(actor, spec.read)) return [];
      return [{ key, value }];
    });
}

/** Drops deletions: the initial values of a new group or member. */
export const initialValues = (changes: FieldChanges | undefined): FieldValues =>
  Object.fromEntries(
    Object.entries(changes ?? {}).filter((e): e is [string, Uint8Array] => e[1] !== null),
  );
