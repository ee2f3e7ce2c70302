import { afterAll, describe } from "vitest";
import { createMemoryStorage, openMongoStorage, type Storage } from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { describeAccountStoreContract } from "./accounts-store-contract.js";

// One contract suite per storage port, run against every backend.

describe("memory backend", () => {
  describeAccountStoreContract(async () => createMemoryStorage().accounts);
});

describe("mongodb backend", () => {
  const opened: Storage[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });
  // A fresh database per test keeps cases independent on one server.
  const fresh = async () => {
    const storage = await openMongoStorage(testMongoUrl(), uniqueName("contract"));
    opened.push(storage);
    return storage;
  };
  describeAccountStoreContract(async () => (await fresh()).accounts);
});
