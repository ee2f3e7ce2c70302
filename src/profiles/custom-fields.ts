/** Who a custom field's permission admits: app users (SDK clients), app administrators, or both. */
export interface FieldAccess {
  app: boolean;
  admin: boolean;
}

/** A custom field registered in config (Tag_Profile_Custom_* or Tag_SNS_Custom_*). */
export interface CustomFieldDef {
  /** Full name: prefix + "_" + keyword. */
  name: string;
  type: "string" | "bytes";
  read: FieldAccess;
  write: FieldAccess;
}

/** A custom field value as stored. */
export type CustomValue = string | Uint8Array;

/** Values of custom fields, strings and bytes alike, are at most this long (reference). */
export const CUSTOM_VALUE_MAX_BYTES = 500;

const KEYWORD = /^[A-Za-z]{1,8}$/;
const BOTH: FieldAccess = { app: true, admin: true };

/**
 * Parses a config list of custom fields: comma-separated `Keyword[:type[:read[:write]]]`,
 * with type `string` (default) or `bytes`, and read/write each `app`, `admin` or
 * `app+admin` (default). The keyword is 1-8 letters (reference naming rule); the
 * prefixed form (`Tag_Profile_Custom_Hobby`) is accepted too. Throws an Error
 * whose message says what is wrong; the config layer names the setting.
 */
export function parseCustomFieldSpecs(
  raw: string,
  prefix: string,
  options: { permissions: boolean },
): CustomFieldDef[] {
  const defs: CustomFieldDef[] = [];
  for (const spec of raw.split(",").map((s) => s.trim())) {
    if (spec === "") continue;
    const parts = spec.split(":");
    const maxParts = options.permissions ? 4 : 2;
    if (parts.length > maxParts) throw new Error(`"${spec}": at most ${maxParts} parts`);
    const [rawName = "", type = "string", read = "app+admin", write = "app+admin"] = parts;
    const keyword = rawName.startsWith(`${prefix}_`) ? rawName.slice(prefix.length + 1) : rawName;
    if (!KEYWORD.test(keyword)) throw new Error(`"${rawName}": keyword must be 1-8 letters`);
    if (type !== "string" && type !== "bytes") {
      throw new Error(`"${spec}": type must be string or bytes`);
    }
    const name = `${prefix}_${keyword}`;
    if (defs.some((d) => d.name === name)) throw new Error(`"${name}" is registered twice`);
    defs.push({ name, type, read: parseAccess(read, spec), write: parseAccess(write, spec) });
  }
  return defs;
}

function parseAccess(raw: string, spec: string): FieldAccess {
  switch (raw) {
    case "app":
      return { app: true, admin: false };
    case "admin":
      return { app: false, admin: true };
    case "app+admin":
    case "admin+app":
      return BOTH;
    default:
      throw new Error(`"${spec}": permission must be app, admin or app+admin`);
  }
}
