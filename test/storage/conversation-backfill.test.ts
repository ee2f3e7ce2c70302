import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { openMongoStorage, type Storage } from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";

describe("conversation lists written by an earlier version", () => {
  const client = new MongoClient(testMongoUrl());
  const opened: Storage[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await client.close();
  });

  it("lists counters that carry no members yet, at their former entries' time, with their read seqs", async () => {
    const dbName = uniqueName("backfill");
    const db = client.db(dbName);
    // As the version that kept a list entry per user wrote them.
    await db.collection("conversation_seqs").insertMany([
      { _id: "c2c:alice:bob" as never, seq: 4 },
      { _id: "c2c:bob:carol" as never, seq: 1 },
    ]);
    await db.collection("conversations").insertMany([
      {
        _id: "bob|c2c:alice:bob" as never,
        ownerUserId: "bob",
        conversationId: "c2c:alice:bob",
        peerUserId: "alice",
        lastSeq: 4,
        readSeq: 3,
        updatedAtMs: 400,
      },
      {
        _id: "alice|c2c:alice:bob" as never,
        ownerUserId: "alice",
        conversationId: "c2c:alice:bob",
        peerUserId: "bob",
        lastSeq: 4,
        readSeq: 4,
        updatedAtMs: 400,
      },
      {
        _id: "bob|c2c:bob:carol" as never,
        ownerUserId: "bob",
        conversationId: "c2c:bob:carol",
        peerUserId: "carol",
        lastSeq: 1,
        readSeq: 0,
        updatedAtMs: 900,
      },
    ]);
    const storage = await openMongoStorage(testMongoUrl(), dbName);
    opened.push(storage);
    const bob = await storage.messages.selectConversations("bob", undefined, 10);
    expect(
      bob.map((c) => [c.conversationId, c.peerUserId, c.lastSeq, c.readSeq, c.updatedAtMs]),
    ).toEqual([
      ["c2c:bob:carol", "carol", 1, 0, 900],
      ["c2c:alice:bob", "alice", 4, 3, 400],
    ]);
    const carol = await storage.messages.selectConversations("carol", undefined, 10);
    expect(carol.map((c) => c.conversationId)).toEqual(["c2c:bob:carol"]);
    // The next allocation moves it up as usual.
    await storage.messages.allocateSeq("c2c:alice:bob", 1000);
    const [top] = await storage.messages.selectConversations("bob", undefined, 1);
    expect([top?.conversationId, top?.lastSeq]).toEqual(["c2c:alice:bob", 5]);
  });
});
