import type { AccountRecord, AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { assertUserId, assertUserIdBatch } from "../common/user-id.js";
import {
  ErrorReason,
  invalidArgument,
  invalidField,
  notFound,
  permissionDenied,
} from "../errors/domain-error.js";
import type { LiveHub } from "../live/live-hub.js";
import type { CustomFieldDef } from "./custom-fields.js";
import { type Access, createFieldRules, type FieldUpdate } from "./field-rules.js";
import { profileChangedEvent } from "./profile-event.js";
import {
  ADMIN_FORBID_TYPE,
  type AdminForbidValue,
  ALLOW_TYPE,
  type AllowTypeValue,
  type FieldValue,
  IMAGE,
  NICK,
} from "./standard-fields.js";
import type { ProfileRecord, ProfileStore } from "./store.js";

export interface ProfilesDeps {
  store: ProfileStore;
  accounts: Pick<AccountStore, "selectAccount">;
  customFields: readonly CustomFieldDef[];
  /** Users per get/import call. */
  batchMax: number;
  clock: Clock;
  /** Live delivery to every device of a user. */
  events: Pick<LiveHub, "publishToUsers">;
  /** Users who have `userId` as a friend: they see its profile changes. */
  profileWatchers(userId: string): Promise<readonly string[]>;
}

/** The caller as profiles see it: who, and whose permissions apply. */
export interface ProfileCaller extends Access {
  userId: string;
}

/** A profile as read: exactly the requested fields. */
export interface ProfileView {
  userId: string;
  values: Map<string, FieldValue>;
}

/** What the relationship chain needs to know about a user's friend-request settings. */
export interface FriendRequestSettings {
  allowType: AllowTypeValue;
  adminForbidType: AdminForbidValue;
}

/** Profiles: the domain side of ProfileService. */
export function createProfiles(deps: ProfilesDeps) {
  const { store, accounts, batchMax, clock, events } = deps;
  const rules = createFieldRules(deps.customFields);

  const accountsOf = async (userIds: readonly string[]) => {
    const found = await Promise.all(userIds.map((id) => accounts.selectAccount(id)));
    return new Map(
      found.filter((a): a is AccountRecord => a !== undefined).map((a) => [a.userId, a]),
    );
  };

  const read = (name: string, profile: ProfileRecord | undefined, account: AccountRecord) => {
    const stored = profile?.fields[name];
    if (stored !== undefined) return stored;
    // The account import carries a nickname and face URL: they count until the profile sets its own.
    if (name === NICK) return account.nickname;
    if (name === IMAGE) return account.faceUrl;
    return rules.fallback(name);
  };

  const notify = async (userId: string, values: Map<string, FieldValue>, atMs: number) => {
    const visible = new Map([...values].filter(([name]) => rules.appReadable(name)));
    if (visible.size === 0) return;
    const event = profileChangedEvent(userId, visible, atMs);
    const watchers = await deps.profileWatchers(userId);
    events.publishToUsers(new Set([userId, ...watchers]), event);
  };

  return {
    /** The user's nickname as profiles show it (the account's until set); empty when none. */
    async nicknameOf(userId: string): Promise<string> {
      const [found, account] = await Promise.all([
        store.selectProfiles([userId]),
        accounts.selectAccount(userId),
      ]);
      if (account === undefined) return "";
      const nick = read(NICK, found.get(userId), account);
      return typeof nick === "string" ? nick : "";
    },
    /**
     * Profiles of existing users in request order (duplicates removed), with only
     * `fieldNames` (all readable fields when empty); unknown users are listed apart.
     */
    async getProfiles(
      caller: ProfileCaller,
      userIds: readonly string[],
      fieldNames: readonly string[],
    ) {
      const ids = assertUserIdBatch(userIds, "user_ids", batchMax);
      fieldNames.forEach((name, i) => {
        rules.assertReadable(name, `fields[${i}]`, caller);
      });
      const names =
        fieldNames.length === 0 ? rules.readableNames(caller) : [...new Set(fieldNames)];
      const [found, profiles] = await Promise.all([accountsOf(ids), store.selectProfiles(ids)]);
      const views: ProfileView[] = [];
      for (const userId of ids) {
        const account = found.get(userId);
        if (account === undefined) continue;
        const profile = profiles.get(userId);
        views.push({
          userId,
          values: new Map(names.map((name) => [name, read(name, profile, account)])),
        });
      }
      return { profiles: views, notFound: ids.filter((id) => !found.has(id)) };
    },

    /**
     * Sets fields of `targetUserId`'s profile (the caller's own when empty; others'
     * need an administrator). Validates everything first; returns the change time.
     */
    async setProfile(caller: ProfileCaller, targetUserId: string, updates: readonly FieldUpdate[]) {
      const target = targetUserId === "" ? caller.userId : targetUserId;
      if (target !== caller.userId) {
        if (!caller.isAdmin) {
          throw permissionDenied(
            ErrorReason.ADMIN_REQUIRED,
            "only administrators set other users' profiles",
            { field: "user_id" },
          );
        }
        assertUserId(target, "user_id");
      }
      if (updates.length === 0) throw invalidField("profile", "at least one field is required");
      const change = rules.toChange(updates, caller);
      if ((await accounts.selectAccount(target)) === undefined) {
        throw notFound(ErrorReason.USER_NOT_FOUND, "no such user", { field: "user_id" });
      }
      const now = clock();
      await store.upsertProfiles([{ userId: target, ...change }], now);
      const changed = new Map<string, FieldValue>(Object.entries(change.set));
      for (const name of change.unset) changed.set(name, rules.fallback(name));
      await notify(target, changed, now);
      return now;
    },

    /**
     * Administrators: stores many profiles. The whole batch is validated (ids,
     * fields, accounts) before anything is written. Sends no events: imports are
     * migrations, not user activity.
     */
    async importProfiles(entries: readonly { userId: string; updates: readonly FieldUpdate[] }[]) {
      if (entries.length === 0) throw invalidField("profiles", "at least one profile is required");
      if (entries.length > batchMax) {
        throw invalidArgument(ErrorReason.TOO_MANY_ITEMS, `at most ${batchMax} profiles per call`, {
          field: "profiles",
        });
      }
      const seen = new Set<string>();
      const changes = entries.map((e, i) => {
        assertUserId(e.userId, `profiles[${i}].user_id`);
        if (seen.has(e.userId)) throw invalidField(`profiles[${i}].user_id`, "duplicate user id");
        seen.add(e.userId);
        if (e.updates.length === 0) {
          throw invalidField(`profiles[${i}]`, "at least one field is required");
        }
        return { userId: e.userId, ...rules.toChange(e.updates, { isAdmin: true }) };
      });
      const found = await accountsOf([...seen]);
      const missing = entries.findIndex((e) => !found.has(e.userId));
      if (missing !== -1) {
        throw notFound(ErrorReason.USER_NOT_FOUND, "no such user", {
          field: `profiles[${missing}].user_id`,
        });
      }
      await store.upsertProfiles(changes, clock());
      return entries.map((e) => e.userId);
    },

    /** The user's friend-request settings, defaults when never set. */
    async friendRequestSettings(userId: string): Promise<FriendRequestSettings> {
      const profile = (await store.selectProfiles([userId])).get(userId);
      return {
        allowType: (profile?.fields[ALLOW_TYPE] ?? rules.fallback(ALLOW_TYPE)) as AllowTypeValue,
        adminForbidType: (profile?.fields[ADMIN_FORBID_TYPE] ??
          rules.fallback(ADMIN_FORBID_TYPE)) as AdminForbidValue,
      };
    },
  };
}

export type Profiles = ReturnType<typeof createProfiles>;
