import { ErrorReason, invalidField, permissionDenied } from "../errors/domain-error.js";
import { CUSTOM_VALUE_MAX_BYTES, type CustomFieldDef } from "./custom-fields.js";
import { type FieldValue, STANDARD_BY_NAME, type StandardFieldDef } from "./standard-fields.js";

/** Whose permissions apply: an app user's or an administrator's. */
export interface Access {
  isAdmin: boolean;
}

/** One field to write, with the request path errors should name. */
export interface FieldUpdate {
  name: string;
  path: string;
  value: FieldValue;
}

export const CUSTOM_PREFIX = "Tag_Profile_Custom";

const UINT32_MAX = 2 ** 32 - 1;

/** The rules of the registered profile fields: which exist, who may read and write them. */
export function createFieldRules(customFields: readonly CustomFieldDef[]) {
  const custom = new Map(customFields.map((f) => [f.name, f]));

  const unknown = (name: string, path: string) =>
    invalidField(
      path,
      name.startsWith(`${CUSTOM_PREFIX}_`)
        ? `${name} is not a registered custom profile field`
        : `${name} is not a profile field`,
    );

  const mayRead = (def: CustomFieldDef, access: Access) =>
    access.isAdmin ? def.read.admin : def.read.app;

  return {
    /** Names of every field `access` may read: standard fields, then readable custom ones. */
    readableNames(access: Access): string[] {
      return [
        ...STANDARD_BY_NAME.keys(),
        ...customFields.filter((f) => mayRead(f, access)).map((f) => f.name),
      ];
    },

    /** Throws INVALID_FIELD for an unknown name, FIELD_NOT_READABLE for a forbidden one. */
    assertReadable(name: string, path: string, access: Access): void {
      if (STANDARD_BY_NAME.has(name)) return;
      const def = custom.get(name);
      if (def === undefined) throw unknown(name, path);
      if (!mayRead(def, access)) {
        throw permissionDenied(ErrorReason.FIELD_NOT_READABLE, `${name} may not be read`, {
          field: path,
        });
      }
    },

    /** True when app users may read the field (what live events may carry). */
    appReadable(name: string): boolean {
      const def = custom.get(name);
      return def === undefined ? STANDARD_BY_NAME.has(name) : def.read.app;
    },

    /** The value a never-set field reads as. */
    fallback(name: string): FieldValue {
      const std = STANDARD_BY_NAME.get(name);
      if (std !== undefined) return std.fallback;
      return custom.get(name)?.type === "bytes" ? new Uint8Array() : "";
    },

    /**
     * Validates every update before any is applied; the first bad one throws, naming
     * its path. Returns what to store: empty custom values clear the field.
     */
    toChange(
      updates: readonly FieldUpdate[],
      access: Access,
    ): { set: Record<string, FieldValue>; unset: string[] } {
      const set: Record<string, FieldValue> = {};
      const unset: string[] = [];
      for (const u of updates) {
        const std = STANDARD_BY_NAME.get(u.name);
        if (std !== undefined) {
          checkStandard(std, u, access);
          set[u.name] = u.value;
          continue;
        }
        const def = custom.get(u.name);
        if (def === undefined) throw unknown(u.name, u.path);
        checkCustom(def, u, access);
        if (byteLength(u.value) === 0) unset.push(u.name);
        else set[u.name] = u.value;
      }
      return { set, unset };
    },
  };
}

export type FieldRules = ReturnType<typeof createFieldRules>;

function checkStandard(def: StandardFieldDef, u: FieldUpdate, access: Access): void {
  if (def.adminWriteOnly && !access.isAdmin) {
    throw permissionDenied(ErrorReason.FIELD_NOT_WRITABLE, `${def.name} is set by administrators`, {
      field: u.path,
    });
  }
  switch (def.kind) {
    case "string":
      if (typeof u.value !== "string") throw invalidField(u.path, `${def.name} is a string`);
      if (def.maxBytes !== undefined && byteLength(u.value) > def.maxBytes) {
        throw invalidField(u.path, `${def.name} is at most ${def.maxBytes} bytes`);
      }
      return;
    case "uint32":
      if (
        typeof u.value !== "number" ||
        !Number.isInteger(u.value) ||
        u.value < 0 ||
        u.value > UINT32_MAX
      ) {
        throw invalidField(u.path, `${def.name} is a uint32`);
      }
      return;
    case "enum":
      if (typeof u.value !== "string" || !def.values?.includes(u.value)) {
        throw invalidField(u.path, `${def.name} must be one of ${def.values?.join(", ")}`);
      }
      return;
  }
}

function checkCustom(def: CustomFieldDef, u: FieldUpdate, access: Access): void {
  if (!(access.isAdmin ? def.write.admin : def.write.app)) {
    throw permissionDenied(ErrorReason.FIELD_NOT_WRITABLE, `${def.name} may not be written`, {
      field: u.path,
    });
  }
  const isBytes = u.value instanceof Uint8Array;
  if (def.type === "bytes" ? !isBytes : typeof u.value !== "string") {
    throw invalidField(u.path, `${def.name} holds ${def.type}`);
  }
  if (byteLength(u.value) > CUSTOM_VALUE_MAX_BYTES) {
    throw invalidField(u.path, `${def.name} is at most ${CUSTOM_VALUE_MAX_BYTES} bytes`);
  }
}

export const byteLength = (value: FieldValue): number =>
  typeof value === "string"
    ? Buffer.byteLength(value)
    : typeof value === "number"
      ? 4
      : value.byteLength;
