/** A profile field value as stored: strings (enums use the reference's value names), uint32s, bytes. */
export type FieldValue = string | number | Uint8Array;

/** A standard profile field of the reference product. */
export interface StandardFieldDef {
  name: string;
  kind: "string" | "uint32" | "enum";
  /** Longest accepted value, in UTF-8 bytes (string fields). */
  maxBytes?: number;
  /** Accepted values (enum fields), default first. */
  values?: readonly string[];
  /** What a never-set field reads as. */
  fallback: string | number;
  /** Only administrators may write it (app users could otherwise lift an admin's ban). */
  adminWriteOnly?: boolean;
}

export const NICK = "Tag_Profile_IM_Nick";
export const GENDER = "Tag_Profile_IM_Gender";
export const BIRTHDAY = "Tag_Profile_IM_Birthday";
export const LOCATION = "Tag_Profile_IM_Location";
export const SELF_SIGNATURE = "Tag_Profile_IM_SelfSignature";
export const ALLOW_TYPE = "Tag_Profile_IM_AllowType";
export const LANGUAGE = "Tag_Profile_IM_Language";
export const IMAGE = "Tag_Profile_IM_Image";
export const ADMIN_FORBID_TYPE = "Tag_Profile_IM_AdminForbidType";
export const LEVEL = "Tag_Profile_IM_Level";
export const ROLE = "Tag_Profile_IM_Role";

export const GENDER_VALUES = ["Gender_Type_Unknown", "Gender_Type_Female", "Gender_Type_Male"];
export const ALLOW_TYPE_VALUES = [
  "AllowType_Type_NeedConfirm",
  "AllowType_Type_AllowAny",
  "AllowType_Type_DenyAny",
] as const;
export type AllowTypeValue = (typeof ALLOW_TYPE_VALUES)[number];
export const ADMIN_FORBID_VALUES = ["AdminForbid_Type_None", "AdminForbid_Type_SendOut"] as const;
export type AdminForbidValue = (typeof ADMIN_FORBID_VALUES)[number];

const enumField = (name: string, values: readonly string[]): StandardFieldDef => ({
  name,
  kind: "enum",
  values,
  fallback: values[0] ?? "",
});

/** The reference's standard fields with their types and limits, in the reference's order. */
export const STANDARD_FIELDS: readonly StandardFieldDef[] = [
  { name: NICK, kind: "string", maxBytes: 500, fallback: "" },
  enumField(GENDER, GENDER_VALUES),
  { name: BIRTHDAY, kind: "uint32", fallback: 0 },
  { name: LOCATION, kind: "string", maxBytes: 16, fallback: "" },
  { name: SELF_SIGNATURE, kind: "string", maxBytes: 500, fallback: "" },
  enumField(ALLOW_TYPE, ALLOW_TYPE_VALUES),
  { name: LANGUAGE, kind: "uint32", fallback: 0 },
  { name: IMAGE, kind: "string", maxBytes: 500, fallback: "" },
  { ...enumField(ADMIN_FORBID_TYPE, ADMIN_FORBID_VALUES), adminWriteOnly: true },
  { name: LEVEL, kind: "uint32", fallback: 0 },
  { name: ROLE, kind: "uint32", fallback: 0 },
];

export const STANDARD_BY_NAME: ReadonlyMap<string, StandardFieldDef> = new Map(
  STANDARD_FIELDS.map((f) => [f.name, f]),
);
