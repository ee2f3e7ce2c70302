import { afterAll, describe } from "vitest";
import { mongoDbCapabilities } from "../../src/storage/mongo/capabilities.js";
import {
  createMemoryStorage,
  openMongoStorage,
  type Storage,
  type StorageOptions,
} from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { describeAccountStoreContract } from "./accounts-store-contract.js";
import { describeBroadcastStoreContract } from "./broadcast-store-contract.js";
import { describeConversationMessageStoreContract } from "./conversation-messages-contract.js";
import { describeDeletedForMeStoreContract } from "./deleted-for-me-store-contract.js";
import { describeGroupMessageStoreContract, groupRecord } from "./group-messages-store-contract.js";
import { describeGroupStoreContract } from "./group-store-contract.js";
import { c2cRecord, describeMessageStoreContract } from "./messages-store-contract.js";
import { describeProfileStoreContract } from "./profiles-store-contract.js";
import { describePushTokenStoreContract } from "./push-store-contract.js";
import { describeReceiptStoreContract } from "./receipts-store-contract.js";
import { describeRelationStoreContract } from "./relations-store-contract.js";

// One contract suite per storage port, run against every backend; the
// conversation message port's suite runs once per conversation kind.
const c2c = { conversationId: "c2c:alice:bob", otherConversationId: "c2c:x:y", record: c2cRecord };
const group = {
  conversationId: "g:1 with spaces",
  otherConversationId: "other",
  record: groupRecord,
};

describe("memory backend", () => {
  describeAccountStoreContract(async () => createMemoryStorage().accounts);
  describe("group stores", () => describeGroupStoreContract(async () => createMemoryStorage()));
  describeConversationMessageStoreContract("c2c", async () => createMemoryStorage().messages, c2c);
  describeConversationMessageStoreContract(
    "group",
    async () => createMemoryStorage().groupMessages,
    group,
  );
  describeGroupMessageStoreContract(async () => createMemoryStorage().groupMessages);
  describeMessageStoreContract(async () => createMemoryStorage().messages);
  describeDeletedForMeStoreContract(async () => createMemoryStorage().deletedForMe);
  describeProfileStoreContract(async () => createMemoryStorage().profiles);
  describePushTokenStoreContract(async () => createMemoryStorage().pushTokens);
  describeReceiptStoreContract(async () => createMemoryStorage().receipts);

  describeBroadcastStoreContract(async () => createMemoryStorage());
  describeRelationStoreContract(async () => createMemoryStorage().relations);
});

describe("mongodb backend", () => {
  const opened: Storage[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });
  // A fresh database per test keeps cases independent on one server.
  const fresh = async (options: StorageOptions = {}) => {
    const storage = await openMongoStorage(testMongoUrl(), uniqueName("contract"), options);
    opened.push(storage);
    return storage;
  };
  describeAccountStoreContract(async () => (await fresh()).accounts);
  // MongoDB's query forms ($in on _id) give the same answers on FerretDB, only slower.
  describe("with MongoDB's capabilities", () => {
    describeAccountStoreContract(
      async () => (await fresh({ capabilities: mongoDbCapabilities })).accounts,
    );
    // MongoDB's filters (shard-key fields beside _id) with FerretDB's non-atomic updates,
    // whose in-process locks these stores' concurrency cases need.
    const mongoFilters = { ...mongoDbCapabilities, atomicUpdates: false, bulkUpdates: false };
    const withMongoFilters = async () => fresh({ capabilities: mongoFilters });
    describe("group stores", () => describeGroupStoreContract(withMongoFilters));
    describeDeletedForMeStoreContract(async () => (await withMongoFilters()).deletedForMe);
    describeRelationStoreContract(async () => (await withMongoFilters()).relations);
    // One message's reads and writes filter on its shard key (conversation or group, seq) too.
    describeConversationMessageStoreContract(
      "c2c",
      async () => (await withMongoFilters()).messages,
      c2c,
    );
    describeConversationMessageStoreContract(
      "group",
      async () => (await withMongoFilters()).groupMessages,
      group,
    );
    // Read seqs of a list page and a message's readers: `$in` of ids with their owner.
    describeMessageStoreContract(async () => (await withMongoFilters()).messages);
    describeReceiptStoreContract(async () => (await withMongoFilters()).receipts);
    describePushTokenStoreContract(
      async () => (await fresh({ capabilities: mongoDbCapabilities })).pushTokens,
    );
  });
  describe("group stores", () => describeGroupStoreContract(fresh));
  describeConversationMessageStoreContract("c2c", async () => (await fresh()).messages, c2c);
  describeConversationMessageStoreContract(
    "group",
    async () => (await fresh()).groupMessages,
    group,
  );
  describeGroupMessageStoreContract(async () => (await fresh()).groupMessages);
  describeMessageStoreContract(async () => (await fresh()).messages);
  describeDeletedForMeStoreContract(async () => (await fresh()).deletedForMe);
  describeProfileStoreContract(async () => (await fresh()).profiles);
  describePushTokenStoreContract(async () => (await fresh()).pushTokens);
  describeReceiptStoreContract(async () => (await fresh()).receipts);

  describeBroadcastStoreContract(fresh);
  describeRelationStoreContract(async () => (await fresh()).relations);
});
