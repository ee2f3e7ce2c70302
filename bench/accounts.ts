import { createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../src/gen/im/v1/account_pb.js";

/**
 * Imports the accounts as the admin, in batches of the server's default limit
 * (100) unless the server was started with a larger ACCOUNT_BATCH_MAX.
 */
export async function importAccounts(
  transport: Transport,
  adminHeaders: Record<string, string>,
  userIds: string[],
  batchSize = 100,
): Promise<void> {
  const client = createClient(AccountService, transport);
  for (let i = 0; i < userIds.length; i += batchSize) {
    const batch = userIds.slice(i, i + batchSize).map((userId) => ({ userId, nickname: userId }));
    await client.importAccounts({ accounts: batch }, { headers: adminHeaders, timeoutMs: 30_000 });
  }
}
