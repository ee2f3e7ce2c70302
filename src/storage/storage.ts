import type { Db } from "mongodb";
import type { AccountStore } from "../accounts/store.js";
import type { MessageStore } from "../conversations/c2c/store.js";
import type { DeletedForMeStore } from "../conversations/deleted-for-me-store.js";
import type { GroupMessageStore } from "../conversations/group/store.js";
import type { GroupMemberStore, GroupStore, JoinApplicationStore } from "../groups/store.js";
import type { ProfileStore } from "../profiles/store.js";
import type { BroadcastStore } from "../push/broadcast-store.js";
import type { PushTokenStore } from "../push/store.js";
import type { ReceiptStore } from "../receipts/store.js";
import type { RelationStore } from "../relations/store.js";
import { createMemoryAccountStore } from "./memory/accounts-store.js";
import { createMemoryBroadcastStore } from "./memory/broadcast-store.js";
import { createMemoryDeletedForMeStore } from "./memory/deleted-for-me-store.js";
import { createMemoryJoinApplicationStore } from "./memory/group-application-store.js";
import { createMemoryGroupMemberStore } from "./memory/group-member-store.js";
import { createMemoryGroupMessageStore } from "./memory/group-messages-store.js";
import { createMemoryGroupStore } from "./memory/group-store.js";
import { createMemoryMessageStore } from "./memory/messages-store.js";
import { createMemoryProfileStore } from "./memory/profiles-store.js";
import { createMemoryPushTokenStore } from "./memory/push-store.js";
import { createMemoryReceiptStore } from "./memory/receipts-store.js";
import { createMemoryRelationStore } from "./memory/relations-store.js";
import { createMongoAccountStore } from "./mongo/accounts-store.js";
import { createMongoBroadcastStore } from "./mongo/broadcast-store.js";
import type { MongoCapabilities } from "./mongo/capabilities.js";
import type { StoreCommandCounts, StoreCommandObserver } from "./mongo/command-counter.js";
import { connectMongo, type MongoWriteOptions } from "./mongo/connect-mongo.js";
import { createMongoDeletedForMeStore } from "./mongo/deleted-for-me-store.js";
import { createMongoJoinApplicationStore } from "./mongo/group-application-store.js";
import { createMongoGroupMemberStore } from "./mongo/group-member-store.js";
import { createMongoGroupMessageStore } from "./mongo/group-messages-store.js";
import { createMongoGroupStore } from "./mongo/group-store.js";
import { createMongoMessageStore } from "./mongo/messages-store.js";
import { createMongoProfileStore } from "./mongo/profiles-store.js";
import { createMongoPushTokenStore } from "./mongo/push-store.js";
import { createMongoReceiptStore } from "./mongo/receipts-store.js";
import { createMongoRelationStore } from "./mongo/relations-store.js";

export type { StoreCommandCounts };

export interface StorageOptions {
  /** Message retention (TTL index where the server supports it). Default 7 days. */
  messageRetentionMs?: number;
  /** Count the driver's commands (benchmarks): `commandCounts` then answers. */
  monitorCommands?: boolean;
  /** Told each command's duration (MongoDB only; store latency metrics). */
  observeCommand?: StoreCommandObserver;
  /** Write concern of every write (default: majority, 10 s bound). */
  write?: MongoWriteOptions;
  /** Tests only: use these instead of what the server reports (to cover MongoDB's paths on FerretDB). */
  capabilities?: MongoCapabilities;
}

/** Every component's store, from one backend. Only src/storage knows which. */
export interface Storage {
  kind: "mongo" | "memory";
  accounts: AccountStore;
  groups: GroupStore;
  groupMembers: GroupMemberStore;
  groupApplications: JoinApplicationStore;
  groupMessages: GroupMessageStore;
  messages: MessageStore;
  /** What users deleted for themselves, for every conversation kind. */
  deletedForMe: DeletedForMeStore;
  profiles: ProfileStore;
  pushTokens: PushTokenStore;
  receipts: ReceiptStore;

  broadcasts: BroadcastStore;
  relations: RelationStore;
  /** Store commands sent since start, when monitoring was asked for (MongoDB only). */
  commandCounts: (() => StoreCommandCounts) | undefined;
  /** Whether the backend can be reached now (the driver's own monitoring; no round trip). */
  isReachable(): boolean;
  /** Calls `listener` on every change of isReachable(); returns the unsubscribe function. */
  onReachabilityChange(listener: () => void): () => void;
  close(): Promise<void>;
}

export function createMemoryStorage(): Storage {
  const accounts = createMemoryAccountStore();
  return {
    kind: "memory",
    accounts,
    groups: createMemoryGroupStore(),
    groupMembers: createMemoryGroupMemberStore(),
    groupApplications: createMemoryJoinApplicationStore(),
    groupMessages: createMemoryGroupMessageStore(),
    messages: createMemoryMessageStore(),
    deletedForMe: createMemoryDeletedForMeStore(),
    profiles: createMemoryProfileStore(),
    pushTokens: createMemoryPushTokenStore(),
    receipts: createMemoryReceiptStore(),

    broadcasts: createMemoryBroadcastStore({ accountIds: () => accounts.userIds() }),
    relations: createMemoryRelationStore(),
    commandCounts: undefined,
    isReachable: () => true,
    onReachabilityChange: () => () => {},
    close: async () => {},
  };
}

/** Connects (failing fast when unreachable) and ensures indexes. */
export async function openMongoStorage(
  url: string,
  database: string,
  options: StorageOptions = {},
): Promise<Storage> {
  const connection = await connectMongo(url, database, {
    monitorCommands: options.monitorCommands ?? false,
    ...(options.observeCommand === undefined ? {} : { observeCommand: options.observeCommand }),
    write: options.write,
  });
  const { client, db, commandCounts, isReachable, onReachabilityChange } = connection;
  const capabilities = options.capabilities ?? connection.capabilities;
  return {
    kind: "mongo",
    ...(await createMongoStores(db, capabilities, options.messageRetentionMs)),
    commandCounts,
    isReachable,
    onReachabilityChange,
    close: () => client.close(),
  };
}

/** The stores of `Storage`, without the connection around them. */
export type MongoStores = Omit<
  Storage,
  "kind" | "commandCounts" | "isReachable" | "onReachabilityChange" | "close"
>;

/** Every component's MongoDB store on `db` (indexes ensured); `openMongoStorage` connects first. */
export async function createMongoStores(
  db: Db,
  capabilities: MongoCapabilities,
  retentionMs = 7 * 24 * 3600 * 1000,
): Promise<MongoStores> {
  return {
    accounts: await createMongoAccountStore(db, capabilities),
    groups: await createMongoGroupStore(db, capabilities),
    groupMembers: await createMongoGroupMemberStore(db, capabilities),
    groupApplications: await createMongoJoinApplicationStore(db, capabilities),
    groupMessages: await createMongoGroupMessageStore(db, { retentionMs }, capabilities),
    messages: await createMongoMessageStore(db, { retentionMs }, capabilities),
    deletedForMe: await createMongoDeletedForMeStore(db, capabilities),
    profiles: await createMongoProfileStore(db),
    pushTokens: await createMongoPushTokenStore(db, capabilities),
    receipts: await createMongoReceiptStore(db, capabilities),
    broadcasts: await createMongoBroadcastStore(db),
    relations: await createMongoRelationStore(db, capabilities),
  };
}
