/** An account as stored. */
export interface AccountRecord {
  userId: string;
  nickname: string;
  faceUrl: string;
  createdAtMs: number;
  /** Sigs issued at or before this time (ms) are rejected; unset: none invalidated. */
  sigsInvalidBeforeMs?: number;
}

export interface AccountInput {
  userId: string;
  nickname: string;
  faceUrl: string;
}

/** Storage port of the accounts component. */
export interface AccountStore {
  /**
   * Creates missing accounts and updates nickname/face URL of existing ones.
   * Ids must be distinct. Returns which ids were created and which updated.
   */
  upsertAccounts(
    accounts: readonly AccountInput[],
    nowMs: number,
  ): Promise<{ created: string[]; updated: string[] }>;
  /** Deletes the accounts that exist; returns the ids that were deleted (others did not exist). */
  deleteAccounts(userIds: readonly string[]): Promise<string[]>;
  /** Returns the subset of `userIds` that exist. */
  selectExistingUserIds(userIds: readonly string[]): Promise<Set<string>>;
  /** Returns the account, or undefined when it does not exist. */
  selectAccount(userId: string): Promise<AccountRecord | undefined>;
  /** Sets the sig invalidation time; returns false when the account does not exist. */
  updateSigsInvalidBefore(userId: string, atMs: number): Promise<boolean>;
}
