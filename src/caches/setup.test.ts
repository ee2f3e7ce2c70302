import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { createMemoryBus, createMemoryHub } from "../bus/index.js";
import { GroupMembershipChangeSchema } from "../gen/im/internal/v1/live_pb.js";
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

  it("read a user's groups once, and again after a join, an exit or a disband told by another node", async () => {
    const { a, b } = await twoNodes();
    let reads = 0;
    const groupsOf = b.caches.groupsOf(async (userId) => {
      reads++;
      return [{ groupId: `g-${userId}-${reads}`, discarding: false }];
    });
    const tell = async (groupId: string, userId: string, member: boolean) => {
      a.bus.publishLive(
        a.bus.registry.liveGroupMembershipSubject,
        toBinary(
          GroupMembershipChangeSchema,
          create(GroupMembershipChangeSchema, { groupId, userId, member, discarding: false }),
        ),
      );
      await a.bus.flushLive();
    };
    expect(await groupsOf("dan")).toEqual([{ groupId: "g-dan-1", discarding: false }]);
    expect(await groupsOf("dan")).toEqual([{ groupId: "g-dan-1", discarding: false }]);
    expect(reads).toBe(1);
    await tell("g-new", "dan", true);
    expect((await groupsOf("dan"))[0]?.groupId).toBe("g-dan-2");
    await groupsOf("eve");
    expect(reads).toBe(3);
    await tell("g-dan-2", "dan", false);
    expect((await groupsOf("dan"))[0]?.groupId).toBe("g-dan-4");
    expect((await groupsOf("eve"))[0]?.groupId).toBe("g-eve-3");
    // A disband: whose lists held the group is not known, so every list goes.
    await tell("g-eve-3", "", false);
    await groupsOf("dan");
    await groupsOf("eve");
    expect(reads).toBe(6);
  });
});
