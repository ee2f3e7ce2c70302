import { create } from "@bufbuild/protobuf";
import { invalidField } from "../errors/domain-error.js";
import {
  AdminForbidType,
  AllowType,
  type CustomFieldValue,
  CustomFieldValueSchema,
  Gender,
  type Profile,
  ProfileSchema,
} from "../gen/im/v1/profile_pb.js";
import type { FieldUpdate } from "./field-rules.js";
import {
  ADMIN_FORBID_TYPE,
  ADMIN_FORBID_VALUES,
  ALLOW_TYPE,
  ALLOW_TYPE_VALUES,
  BIRTHDAY,
  type FieldValue,
  GENDER,
  GENDER_VALUES,
  IMAGE,
  LANGUAGE,
  LEVEL,
  LOCATION,
  NICK,
  ROLE,
  SELF_SIGNATURE,
} from "./standard-fields.js";

// Proto enum number <-> the reference's value name. Index 0 of each proto enum is
// UNSPECIFIED, which in updates resets the field to its default.
const GENDER_BY_NUMBER: Record<number, string | undefined> = {
  [Gender.UNSPECIFIED]: GENDER_VALUES[0],
  [Gender.FEMALE]: GENDER_VALUES[1],
  [Gender.MALE]: GENDER_VALUES[2],
};
const ALLOW_BY_NUMBER: Record<number, string | undefined> = {
  [AllowType.UNSPECIFIED]: ALLOW_TYPE_VALUES[0],
  [AllowType.NEED_CONFIRM]: ALLOW_TYPE_VALUES[0],
  [AllowType.ALLOW_ANY]: ALLOW_TYPE_VALUES[1],
  [AllowType.DENY_ANY]: ALLOW_TYPE_VALUES[2],
};
const FORBID_BY_NUMBER: Record<number, string | undefined> = {
  [AdminForbidType.UNSPECIFIED]: ADMIN_FORBID_VALUES[0],
  [AdminForbidType.NONE]: ADMIN_FORBID_VALUES[0],
  [AdminForbidType.SEND_OUT]: ADMIN_FORBID_VALUES[1],
};

const numberOf = (table: Record<number, string | undefined>, value: FieldValue): number => {
  for (const [n, name] of Object.entries(table)) if (name === value && n !== "0") return Number(n);
  return 0;
};

const enumUpdate = (
  name: string,
  path: string,
  table: Record<number, string | undefined>,
  n: number,
): FieldUpdate => {
  const value = table[n];
  if (value === undefined) throw invalidField(path, `${n} is not a valid ${name} value`);
  return { name, path, value };
};

/** The fields present in `p` as updates; `prefix` is the request path of `p`. */
export function updatesFromProto(p: Profile, prefix: string): FieldUpdate[] {
  const at = (field: string) => `${prefix}.${field}`;
  const out: FieldUpdate[] = [];
  const plain = (name: string, field: string, value: FieldValue | undefined) => {
    if (value !== undefined) out.push({ name, path: at(field), value });
  };
  plain(NICK, "nickname", p.nickname);
  if (p.gender !== undefined)
    out.push(enumUpdate(GENDER, at("gender"), GENDER_BY_NUMBER, p.gender));
  plain(BIRTHDAY, "birthday", p.birthday);
  plain(LOCATION, "location", p.location);
  plain(SELF_SIGNATURE, "self_signature", p.selfSignature);
  if (p.allowType !== undefined) {
    out.push(enumUpdate(ALLOW_TYPE, at("allow_type"), ALLOW_BY_NUMBER, p.allowType));
  }
  plain(LANGUAGE, "language", p.language);
  plain(IMAGE, "image_url", p.imageUrl);
  if (p.adminForbidType !== undefined) {
    out.push(
      enumUpdate(ADMIN_FORBID_TYPE, at("admin_forbid_type"), FORBID_BY_NUMBER, p.adminForbidType),
    );
  }
  plain(LEVEL, "level", p.level);
  plain(ROLE, "role", p.role);
  for (const [name, v] of Object.entries(p.customFields)) {
    const path = at(`custom_fields.${name}`);
    if (v.value.case === undefined) throw invalidField(path, "a value is required");
    out.push({ name, path, value: v.value.value });
  }
  return out;
}

/** A Profile message holding exactly `values`. */
export function profileToProto(userId: string, values: ReadonlyMap<string, FieldValue>): Profile {
  const p = create(ProfileSchema, { userId });
  for (const [name, value] of values) {
    switch (name) {
      case NICK:
        p.nickname = String(value);
        break;
      case GENDER:
        p.gender = numberOf(GENDER_BY_NUMBER, value);
        break;
      case BIRTHDAY:
        p.birthday = Number(value);
        break;
      case LOCATION:
        p.location = String(value);
        break;
      case SELF_SIGNATURE:
        p.selfSignature = String(value);
        break;
      case ALLOW_TYPE:
        p.allowType = numberOf(ALLOW_BY_NUMBER, value);
        break;
      case LANGUAGE:
        p.language = Number(value);
        break;
      case IMAGE:
        p.imageUrl = String(value);
        break;
      case ADMIN_FORBID_TYPE:
        p.adminForbidType = numberOf(FORBID_BY_NUMBER, value);
        break;
      case LEVEL:
        p.level = Number(value);
        break;
      case ROLE:
        p.role = Number(value);
        break;
      default:
        p.customFields[name] = customValueToProto(value);
    }
  }
  return p;
}

export const customValueToProto = (value: FieldValue): CustomFieldValue =>
  create(CustomFieldValueSchema, {
    value:
      value instanceof Uint8Array
        ? { case: "bytesValue", value }
        : { case: "stringValue", value: String(value) },
  });
