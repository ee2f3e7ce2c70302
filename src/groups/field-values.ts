import type { FieldChanges, FieldValues } from "./store.js";

export const cloneFields = (fields: FieldValues): FieldValues =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, new Uint8Array(v)]));

/** A value sets its key, null deletes it. */
export function applyFieldChanges(fields: FieldValues, changes: FieldChanges): FieldValues {
  const out = cloneFields(fields);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete out[key];
    else out[key] = new Uint8Array(value);
  }
  return out;
}
