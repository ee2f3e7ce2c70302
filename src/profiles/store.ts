import type { FieldValue } from "./standard-fields.js";

/** A stored profile: only the fields ever set (by full name). */
export interface ProfileRecord {
  userId: string;
  fields: Record<string, FieldValue>;
  updatedAtMs: number;
}

/** Changes to one user's profile. A name must not be in both `set` and `unset`. */
export interface ProfileChange {
  userId: string;
  set: Record<string, FieldValue>;
  unset: readonly string[];
}

/** Storage port of the profiles component. */
export interface ProfileStore {
  /**
   * Applies each change, creating the profile when missing; fields not named keep
   * their values, unsetting a missing field is a no-op. Each user's change is atomic;
   * a batch is not (a failure part-way leaves earlier users changed), and repeating
   * it is harmless because the writes are idempotent.
   */
  upsertProfiles(changes: readonly ProfileChange[], nowMs: number): Promise<void>;
  /** Profiles of the given users that have one; users without are absent from the map. */
  selectProfiles(userIds: readonly string[]): Promise<Map<string, ProfileRecord>>;
}
