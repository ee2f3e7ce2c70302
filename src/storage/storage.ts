import type { AccountStore } from "../accounts/store.js";
import { createMemoryAccountStore } from "./memory/accounts-store.js";
import { createMongoAccountStore } from "./mongo/accounts-store.js";
import { connectMongo } from "./mongo/connect-mongo.js";

/** Every component's store, from one backend. Only src/storage knows which. */
export interface Storage {
  kind: "mongo" | "memory";
  accounts: AccountStore;
  close(): Promise<void>;
}

export function createMemoryStorage(): Storage {
  return {
    kind: "memory",
    accounts: createMemoryAccountStore(),
    close: async () => {},
  };
}

/** Connects (failing fast when unreachable) and ensures indexes. */
export async function openMongoStorage(url: string, database: string): Promise<Storage> {
  const { client, db } = await connectMongo(url, database);
  return {
    kind: "mongo",
    accounts: await createMongoAccountStore(db),
    close: () => client.close(),
  };
}
