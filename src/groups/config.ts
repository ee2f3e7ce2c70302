import {
  booleanSetting,
  ConfigError,
  type Env,
  enumSetting,
  intSetting,
  stringSetting,
} from "../config/settings.js";
import type { GroupType } from "../gen/im/v1/group_pb.js";
import { GROUP_TYPES, type GroupTypeTraits, TIP_POLICIES, TYPE_TRAITS } from "./group-types.js";

/**
 * Least role that may read or write a custom field, low to high. For member
 * fields, "member" means the member themself (and anyone higher).
 */
export type FieldLevel = "anyone" | "member" | "admin" | "owner" | "appAdmin";
export const FIELD_LEVELS: readonly FieldLevel[] = [
  "anyone",
  "member",
  "admin",
  "owner",
  "appAdmin",
];

export interface CustomFieldSpec {
  read: FieldLevel;
  write: FieldLevel;
}

export interface GroupConfig {
  /** The type table with config overrides applied. */
  traits: Readonly<Record<GroupType, GroupTypeTraits>>;
  /** Configured group custom field keys (at most 10). */
  groupFields: ReadonlyMap<string, CustomFieldSpec>;
  /** Configured member custom field keys (at most 5). */
  memberFields: ReadonlyMap<string, CustomFieldSpec>;
  /** Messages per second per group before lower priorities are dropped (reference: 40). */
  messagesPerSecond: number;
  /** Pending join applications one user may have at once; also the pending list size (reference: 50). */
  pendingApplicationsMax: number;
  /** Users per add call (reference: 100). */
  addMembersMax: number;
  /** Users per remove and mute call (reference: 500). */
  removeMembersMax: number;
  /** Same sender + random + content within this window is a duplicate (reference: 5 min). */
  duplicateWindowMs: number;
  /** Any member may @-mention everyone; default: owner and admins only. */
  atAllByMembers: boolean;
}

const FIELD_KEY = /^[A-Za-z0-9_]{1,16}$/;

/**
 * Reads GROUP_* settings. Per type (TYPE = WORK, PUBLIC, MEETING, AVCHATROOM,
 * COMMUNITY): GROUP_<TYPE>_MEMBER_LIMIT, GROUP_<TYPE>_PREJOIN_HISTORY,
 * GROUP_<TYPE>_MEMBER_CHANGE_TIPS / _PROFILE_CHANGE_TIPS / _GROUP_MUTE_TIPS /
 * _MEMBER_PROFILE_CHANGE_TIPS (off | notify | store), GROUP_<TYPE>_READ_RECEIPTS.
 * AVChatRoom never stores.
 */
export function readGroupConfig(env: Env): GroupConfig {
  const traits = { ...TYPE_TRAITS };
  for (const type of GROUP_TYPES) {
    const base = TYPE_TRAITS[type];
    const p = `GROUP_${base.key}_`;
    const tips = (name: string, fallback: GroupTypeTraits["memberChangeTips"]) => {
      const value = enumSetting(env, p + name, TIP_POLICIES, fallback);
      if (value === "store" && !base.storesHistory) {
        throw new ConfigError(p + name, "this type stores no messages; use off or notify");
      }
      return value;
    };
    traits[type] = {
      ...base,
      memberLimit: base.memberList
        ? intSetting(env, `${p}MEMBER_LIMIT`, base.memberLimit, { min: 1, max: 1_000_000 })
        : base.memberLimit,
      preJoinHistory: base.storesHistory
        ? booleanOr(env, `${p}PREJOIN_HISTORY`, base.preJoinHistory)
        : false,
      readReceipts: readReceiptsSetting(env, `${p}READ_RECEIPTS`, base),
      memberChangeTips: tips("MEMBER_CHANGE_TIPS", base.memberChangeTips),
      profileChangeTips: tips("PROFILE_CHANGE_TIPS", base.profileChangeTips),
      groupMuteTips: tips("GROUP_MUTE_TIPS", base.groupMuteTips),
      memberProfileChangeTips: tips("MEMBER_PROFILE_CHANGE_TIPS", base.memberProfileChangeTips),
    };
  }
  return {
    traits,
    groupFields: fieldSpecs(env, "GROUP_CUSTOM_FIELDS", 10),
    memberFields: fieldSpecs(env, "GROUP_MEMBER_CUSTOM_FIELDS", 5),
    messagesPerSecond: intSetting(env, "GROUP_MESSAGE_RATE_MAX", 40, { min: 1, max: 100_000 }),
    pendingApplicationsMax: intSetting(env, "GROUP_PENDING_APPLICATIONS_MAX", 50, {
      min: 1,
      max: 1000,
    }),
    addMembersMax: intSetting(env, "GROUP_ADD_MEMBERS_MAX", 100, { min: 1, max: 10_000 }),
    removeMembersMax: intSetting(env, "GROUP_REMOVE_MEMBERS_MAX", 500, { min: 1, max: 10_000 }),
    atAllByMembers: booleanSetting(env, "GROUP_AT_ALL_BY_MEMBERS", false),
    duplicateWindowMs: intSetting(env, "GROUP_DUPLICATE_WINDOW_MS", 300_000, {
      min: 0,
      max: 86_400_000,
    }),
  };
}

function booleanOr(env: Env, name: string, fallback: boolean): boolean {
  return enumSetting(env, name, ["true", "false"], fallback ? "true" : "false") === "true";
}

/** "Key:read:write,Key2:read:write", levels from FIELD_LEVELS. */
function fieldSpecs(env: Env, name: string, max: number): Map<string, CustomFieldSpec> {
  const raw = stringSetting(env, name);
  const out = new Map<string, CustomFieldSpec>();
  if (raw === undefined) return out;
  for (const entry of raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    const [key = "", read = "", write = "", ...rest] = entry.split(":");
    if (!FIELD_KEY.test(key) || rest.length > 0) {
      throw new ConfigError(name, `"${entry}": expected Key:read:write, key 1-16 of [A-Za-z0-9_]`);
    }
    if (!isLevel(read) || !isLevel(write)) {
      throw new ConfigError(name, `"${entry}": levels are ${FIELD_LEVELS.join(", ")}`);
    }
    if (out.has(key)) throw new ConfigError(name, `duplicate key "${key}"`);
    out.set(key, { read, write });
  }
  if (out.size > max) throw new ConfigError(name, `at most ${max} keys`);
  return out;
}

const isLevel = (s: string): s is FieldLevel => (FIELD_LEVELS as readonly string[]).includes(s);

/** Read receipts need per-member read state: a type without it refuses the setting. */
function readReceiptsSetting(env: Env, name: string, base: GroupTypeTraits): boolean {
  const on = booleanOr(env, name, base.readReceipts);
  if (on && !base.unreadCounts) {
    throw new ConfigError(name, "this type keeps no per-member read state; read receipts need it");
  }
  return on;
}
