import type { Clock } from "../common/clock.js";
import { assertUserId, assertUserIdBatch } from "../common/user-id.js";
import { ErrorReason, invalidArgument, invalidField, notFound } from "../errors/domain-error.js";
import type { StreamAuthority } from "../live/live-hub.js";
import type { AccountInput, AccountStore } from "./store.js";

export interface AccountsDeps {
  store: AccountStore;
  clock: Clock;
  /** Most accounts per import/delete/check call. */
  batchMax: number;
  /** Live streams on every node, told when a user's sigs stop authenticating. */
  streams: StreamAuthority;
}

const MAX_TEXT_BYTES = 500;

/** Account administration: the domain side of AccountService. */
export function createAccounts(deps: AccountsDeps) {
  const { store, clock, batchMax, streams } = deps;
  return {
    /** Validates the whole batch first: an invalid account imports nothing. */
    async importAccounts(accounts: readonly AccountInput[]) {
      if (accounts.length === 0) throw invalidField("accounts", "at least one account is required");
      if (accounts.length > batchMax) {
        throw invalidArgument(ErrorReason.TOO_MANY_ITEMS, `at most ${batchMax} accounts per call`, {
          field: "accounts",
        });
      }
      const seen = new Set<string>();
      accounts.forEach((a, i) => {
        assertUserId(a.userId, `accounts[${i}].user_id`);
        if (seen.has(a.userId)) throw invalidField(`accounts[${i}].user_id`, "duplicate user id");
        seen.add(a.userId);
        assertMaxBytes(a.nickname, `accounts[${i}].nickname`);
        assertMaxBytes(a.faceUrl, `accounts[${i}].face_url`);
      });
      return store.upsertAccounts(accounts, clock());
    },

    async deleteAccounts(userIds: readonly string[]) {
      const ids = assertUserIdBatch(userIds, "user_ids", batchMax);
      const now = clock();
      const deleted = await store.deleteAccounts(ids);
      streams.accountsDeleted(deleted, now);
      const gone = new Set(deleted);
      return { deleted, notFound: ids.filter((id) => !gone.has(id)) };
    },

    /** One result per requested id, in request order (duplicates included). */
    async checkAccounts(userIds: readonly string[]) {
      assertUserIdBatch(userIds, "user_ids", batchMax);
      const existing = await store.selectExistingUserIds(userIds);
      return userIds.map((userId) => ({ userId, exists: existing.has(userId) }));
    },

    async invalidateUserSigs(userId: string) {
      assertUserId(userId, "user_id");
      const now = clock();
      if (!(await store.updateSigsInvalidBefore(userId, now))) {
        throw notFound(ErrorReason.ACCOUNT_NOT_FOUND, "account does not exist", {
          field: "user_id",
        });
      }
      streams.sigsInvalidated(userId, now);
      return now;
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;

function assertMaxBytes(value: string, field: string): void {
  if (Buffer.byteLength(value) > MAX_TEXT_BYTES) {
    throw invalidField(field, `at most ${MAX_TEXT_BYTES} bytes`);
  }
}
