import { createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../src/gen/im/v1/account_pb.js";

/** Imports the accounts as the admin, in batches of the server's default limit (100). */
export async function importAccounts(
  transport: Transport,
  adminHeaders: Record<string, string>,
  userIds: string[],
): Promise<void> {
  const client = createClient(AccountService, transport);
  for (let i = 0; i < userIds.length; i += 100) {
    const batch = userIds.slice(i, i + 100).map((userId) => ({ userId, nickname: userId }));
    await client.importAccounts({ accounts: batch }, { headers: adminHeaders, timeoutMs: 30_000 });
  }
}
