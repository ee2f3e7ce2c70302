import type { AccountRecord, AccountStore } from "../../accounts/store.js";

/** The memory accounts, which can also list their ids (a broadcast to all users). */
export interface MemoryAccountStore extends AccountStore {
  userIds(): string[];
}

export function createMemoryAccountStore(): MemoryAccountStore {
  const accounts = new Map<string, AccountRecord>();
  return {
    userIds: () => [...accounts.keys()],
    async upsertAccounts(inputs, nowMs) {
      const created: string[] = [];
      const updated: string[] = [];
      for (const input of inputs) {
        const existing = accounts.get(input.userId);
        if (existing === undefined) {
          accounts.set(input.userId, { ...input, createdAtMs: nowMs });
          created.push(input.userId);
        } else {
          accounts.set(input.userId, {
            ...existing,
            nickname: input.nickname,
            faceUrl: input.faceUrl,
          });
          updated.push(input.userId);
        }
      }
      return { created, updated };
    },
    async deleteAccounts(userIds) {
      return userIds.filter((id) => accounts.delete(id));
    },
    async selectExistingUserIds(userIds) {
      return new Set(userIds.filter((id) => accounts.has(id)));
    },
    async selectAccount(userId) {
      const account = accounts.get(userId);
      return account === undefined ? undefined : { ...account };
    },
    async updateSigsInvalidBefore(userId, atMs) {
      const account = accounts.get(userId);
      if (account === undefined) return false;
      account.sigsInvalidBeforeMs = atMs;
      return true;
    },
  };
}
