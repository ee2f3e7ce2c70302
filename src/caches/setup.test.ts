import { describe, expect, it } from "vitest";
import { createMemoryBus, createMemoryHub } from "../bus/index.js";
import { silentLogger } from "../log/logger.js";
import type { RelationStore } from "../relations/store.js";
import { createMemoryAccountStore } from "../storage/memory/accounts-store.js";
import { createMemoryRelationStore } from "../storage/memory/relations-store.js";
import { setupLookupCaches } from "./setup.js";

/** Two nodes on one in-process bus and one store, each with its caches. */
async function twoNodes() {
  const hub = createMemoryHub();
  const clock = () => 1_000;
  const relations = createMemoryRelationStore();
  const accounts = createMemoryAccountStore();
  let blockReads = 0;
  // The store as the send policy reads it, counting what reaches it.
  const counted: Pick<RelationStore, "selectBlockedAmong" | "selectFriends"> = {
    selectBlockedAmong: (owner, ids) => {
      blockReads++;
      return relations.selectBlockedAmong(owner, ids);
    },
    selectFriends: (owner, ids) => relations.selectFriends(owner, ids),
  };
  const node = async () => {
    const bus = createMemoryBus({ hub, clock, logger: silentLogger });
    const caches = setupLookupCaches({
      bus,
      clock,
      logger: silentLogger,
      settings: { ttlMs: 3_600_000, maxEntries: 1000 },
    });
    await bus.flushLive();
    return {
      bus,
      caches,
      relations: caches.relations(relations),
      lookups: caches.relationLookups(counted),
      accounts: caches.accounts(accounts),
    };
  };
  return { a: await node(), b: await node(), blockReads: () => blockReads };
}

describe("lookup caches", () => {
  it("answer repeated reads from the cache, and see a block written on another node", async () => {
    const { a, b, blockReads } = await twoNodes();
    expect(await b.lookups.blockedAmong("bob", ["alice"])).toEqual(new Set());
    expect(await b.lookups.blockedAmong("bob", ["alice"])).toEqual(new Set());
    expect(blockReads()).toBe(1);
    await a.relations.insertBlocks("bob", ["alice"], 1_000);
    expect(await b.lookups.blockedAmong("bob", ["alice"])).toEqual(new Set(["alice"]));
    await a.relations.deleteBlocks("bob", ["alice"]);
    expect(await b.lookups.blockedAmong("bob", ["alice"])).toEqual(new Set());
    expect(blockReads()).toBe(3);
  });

  it("see an account deleted on another node", async () => {
    const { a, b } = await twoNodes();
    await a.accounts.upsertAccounts([{ userId: "carol", nickname: "", faceUrl: "" }], 1_000);
    expect(await b.accounts.selectExistingUserIds(["carol"])).toEqual(new Set(["carol"]));
    expect((await b.accounts.selectAccount("carol"))?.userId).toBe("carol");
    await a.accounts.deleteAccounts(["carol"]);
    expect(await b.accounts.selectExistingUserIds(["carol"])).toEqual(new Set());
    expect(await b.accounts.selectAccount("carol")).toBeUndefined();
  });

  it("serve nothing once the node's bus is gone (invalidations could no longer arrive)", async () => {
    const { b, blockReads } = await twoNodes();
    await b.lookups.blockedAmong("bob", ["alice"]);
    expect(b.caches.sizes().relationFacts).toBe(1);
    await b.bus.close();
    expect(b.caches.sizes().relationFacts).toBe(0);
    await b.lookups.blockedAmong("bob", ["alice"]);
    await b.lookups.blockedAmong("bob", ["alice"]);
    expect(blockReads()).toBe(3);
  });
});
