import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin, requireCaller } from "../auth/caller.js";
import type { AccountService } from "../gen/im/v1/account_pb.js";
import type { Accounts } from "./accounts.js";

/** AccountService over Connect: proto in, domain call, proto out. */
export function createAccountService(accounts: Accounts): ServiceImpl<typeof AccountService> {
  return {
    async importAccounts(req, ctx) {
      requireAdmin(ctx);
      const { created, updated } = await accounts.importAccounts(req.accounts);
      return { createdUserIds: created, updatedUserIds: updated };
    },
    async deleteAccounts(req, ctx) {
      requireAdmin(ctx);
      const { deleted, notFound } = await accounts.deleteAccounts(req.userIds);
      return { deletedUserIds: deleted, notFoundUserIds: notFound };
    },
    async checkAccounts(req, ctx) {
      requireAdmin(ctx);
      return { results: await accounts.checkAccounts(req.userIds) };
    },
    async invalidateUserSigs(req, ctx) {
      requireAdmin(ctx);
      return { invalidatedBeforeMs: BigInt(await accounts.invalidateUserSigs(req.userId)) };
    },
    whoAmI(_req, ctx) {
      const caller = requireCaller(ctx);
      return {
        userId: caller.userId,
        isAdmin: caller.isAdmin,
        sigExpiresAtMs: BigInt(caller.sigExpiresAtMs),
      };
    },
  };
}
