import { readFileSync } from "node:fs";
import { clone, create } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { type Document, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GroupMessage, GroupMessageSchema, GroupRole } from "../../src/gen/im/v1/group_pb.js";
import { type Message, MessageSchema } from "../../src/gen/im/v1/message_pb.js";
import { MessageEditSchema, MessageRecallSchema } from "../../src/gen/im/v1/recall_pb.js";
import { mongoDbCapabilities } from "../../src/storage/mongo/capabilities.js";
import { type ShardKey, shardKeys } from "../../src/storage/mongo/shard-keys.js";
import { createMongoStores, type MongoStores } from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { groupRecord } from "./group-messages-store-contract.js";
import { member } from "./group-store-contract.js";
import { c2cRecord } from "./messages-store-contract.js";

/** One write statement, or a read, as the driver sent it. */
interface Statement {
  collection: string;
  op: "update" | "findAndModify" | "delete" | "find" | "aggregate";
  filter: Document;
  upsert: boolean;
  /** Touches at most one document (updateOne, deleteOne, findAndModify). */
  single: boolean;
}

/** The statements of one command (driver command monitoring): writes, finds, counts. */
function statementsOf(name: string, command: Document): Statement[] {
  if (name === "update") {
    return (command.updates as Document[]).map((u) => ({
      collection: command.update as string,
      op: "update",
      filter: u.q as Document,
      upsert: u.upsert === true,
      single: u.multi !== true,
    }));
  }
  if (name === "delete") {
    return (command.deletes as Document[]).map((d) => ({
      collection: command.delete as string,
      op: "delete",
      filter: d.q as Document,
      upsert: false,
      single: d.limit === 1,
    }));
  }
  if (name === "findAndModify") {
    return [
      {
        collection: command.findAndModify as string,
        op: "findAndModify",
        filter: (command.query ?? {}) as Document,
        upsert: command.upsert === true,
        single: true,
      },
    ];
  }
  if (name === "find") {
    const filter = (command.filter ?? {}) as Document;
    return [
      {
        collection: command.find as string,
        op: "find",
        filter,
        upsert: false,
        // A point read: one document by its _id.
        single: pinned(filter, "_id"),
      },
    ];
  }
  if (name === "aggregate") {
    // countDocuments: a $match first.
    const [first] = (command.pipeline ?? []) as Document[];
    return [
      {
        collection: command.aggregate as string,
        op: "aggregate",
        filter: (first?.$match ?? {}) as Document,
        upsert: false,
        single: false,
      },
    ];
  }
  return [];
}

/** Whether `filter` limits `field` to one value or a list of them (`$in`): a targeted read. */
function targeted(filter: Document, field: string): boolean {
  if (pinned(filter, field)) return true;
  const v: unknown = filter[field];
  return v !== null && typeof v === "object" && Object.keys(v).join() === "$in";
}

/**
 * Reads that may go to every shard: they look a collection up by another owner
 * than its key's (docs/deployment.md, Shard keys, "not targeted"), named by the
 * field they filter on.
 */
const scatterReads: Readonly<Record<string, string>> = {
  // Only for a repeated client message id.
  messages: "dedupKey",
  group_messages: "dedupKey",
  // A user's groups (once per stream open per node).
  group_members: "userId",
  // A user's own applications.
  group_join_applications: "applicantUserId",
  // Who has x as a friend (profile change fan-out).
  friends: "friendId",
  // Outgoing requests.
  friend_requests: "fromUserId",
  // A user's conversation list, by its members (one page per list request).
  conversation_seqs: "members",
  // Recovery scans of the outboxes by time (background).
  message_outbox: "timeMs",
  group_message_outbox: "timeMs",
};

/** Whether `filter` pins `field` to one value (a sharded cluster routes by such fields). */
function pinned(filter: Document, field: string): boolean {
  if (!(field in filter)) return false;
  const v: unknown = filter[field];
  if (v === null || typeof v !== "object" || Array.isArray(v)) return true;
  const keys = Object.keys(v);
  if (keys.length === 0 || !keys.some((k) => k.startsWith("$"))) return true;
  return keys.length === 1 && keys[0] === "$eq";
}

const rangedKey = (key: ShardKey | null | undefined): string[] | undefined =>
  key == null || Object.values(key).includes("hashed") ? undefined : Object.keys(key);

describe("shard keys on MongoDB (stores with MongoDB's capabilities, commands captured)", () => {
  let client: MongoClient;
  let stores: MongoStores;
  const statements: Statement[] = [];
  const dbName = uniqueName("shardkeys");

  beforeAll(async () => {
    client = new MongoClient(testMongoUrl(), { monitorCommands: true });
    client.on("commandStarted", (e) => {
      if (e.databaseName === dbName) statements.push(...statementsOf(e.commandName, e.command));
    });
    await client.connect();
    stores = await createMongoStores(client.db(dbName), mongoDbCapabilities);
    await exercise(stores);
  });
  afterAll(async () => {
    await client?.close();
  });

  it("every upsert, findAndModify and single-document update names the whole shard key", () => {
    const offending: string[] = [];
    for (const s of statements) {
      const shardKey = shardKeys[s.collection];
      // A hashed key's field is _id: the same rule.
      const key = shardKey == null ? undefined : Object.keys(shardKey);
      if (key === undefined || !s.single || s.op === "find") continue;
      const ok =
        key.every((f) => pinned(s.filter, f)) ||
        // MongoDB's rule for a deleteOne: the shard key or _id (it never creates a document).
        (s.op === "delete" && pinned(s.filter, "_id"));
      if (!ok) offending.push(`${s.collection} ${s.op}: ${JSON.stringify(s.filter)}`);
    }
    expect(offending).toEqual([]);
    // Each collection whose documents are updated in place was exercised.
    const written = new Set(
      statements.filter((s) => s.single && s.op !== "delete").map((s) => s.collection),
    );
    for (const c of [
      "conversations",
      "deleted_for_me",
      "group_members",
      "group_mutes",
      "group_join_applications",
      "friends",
      "friend_requests",
      "friend_lists",
      "blocks",
      "messages",
      "group_messages",
    ]) {
      expect(written, c).toContain(c);
    }
  });

  it("every point read by _id names the whole shard key (targeted, not sent to every shard)", () => {
    const offending = statements
      .filter((s) => s.op === "find" && s.single)
      .filter((s) => {
        const key = rangedKey(shardKeys[s.collection]);
        return key !== undefined && !key.every((f) => pinned(s.filter, f));
      })
      .map((s) => `${s.collection} find: ${JSON.stringify(s.filter)}`);
    expect([...new Set(offending)]).toEqual([]);
  });

  it("every read is targeted by its shard key's first field, but the listed scatter-gathers", () => {
    const reads = statements.filter((s) => s.op === "find" || s.op === "aggregate");
    const offending = reads
      .filter((s) => {
        const shardKey = shardKeys[s.collection];
        // A hashed key's field is _id: the same rule.
        const key = shardKey == null ? undefined : Object.keys(shardKey);
        if (key === undefined) return false;
        const scatter = scatterReads[s.collection];
        return !(
          targeted(s.filter, key[0] as string) ||
          (scatter !== undefined && s.filter[scatter] !== undefined)
        );
      })
      .map((s) => `${s.collection} ${s.op}: ${JSON.stringify(s.filter)}`);
    expect([...new Set(offending)]).toEqual([]);
    // Each collection sharded on ranged fields was read.
    const read = new Set(reads.map((s) => s.collection));
    for (const [c, key] of Object.entries(shardKeys)) {
      if (rangedKey(key) !== undefined) expect(read, c).toContain(c);
    }
  });

  it("every stored document carries its shard-key fields", async () => {
    const db = client.db(dbName);
    for (const [collection, key] of Object.entries(shardKeys)) {
      const fields = rangedKey(key);
      if (fields === undefined) continue;
      const docs = await db.collection(collection).find({}).toArray();
      if (collection !== "friend_requests" && collection !== "group_join_applications") {
        // (Those two had their documents taken back out by the exercise.)
        expect(docs.length, collection).toBeGreaterThan(0);
      }
      for (const d of docs) {
        for (const f of fields)
          expect(d[f], `${collection}.${f} of ${String(d._id)}`).toBeDefined();
      }
    }
  });

  it("docs/deployment.md lists the same keys", () => {
    const doc = readFileSync(new URL("../../docs/deployment.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("### Shard keys"));
    const listed: Record<string, string> = {};
    for (const line of section.split("\n")) {
      const cells = line.split("|").map((c) => c.trim());
      const names = [...(cells[1] ?? "").matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1] ?? "");
      if (names.length === 0) continue;
      for (const n of names) listed[n] = cells[2] ?? "";
    }
    const expected = Object.fromEntries(
      Object.entries(shardKeys).map(([c, key]) => [
        c,
        key === null
          ? "unsharded"
          : `\`{${Object.entries(key)
              .map(([f, v]) => `${f}: ${v === 1 ? "1" : `"${v}"`}`)
              .join(", ")}}\``,
      ]),
    );
    expect(listed).toEqual(expected);
  });
});

/** Calls every store method that writes a collection sharded on fields other than `_id`. */
async function exercise(s: MongoStores): Promise<void> {
  const conv = "c2c:alice:bob";
  const c2c = [1, 2].map((seq) => c2cRecord(conv, seq, { unpublished: true }));
  expect(await s.messages.allocateSeqRanges([{ conversationId: conv, count: 2 }], 1)).toEqual([1]);
  await s.messages.appendMessages(c2c);
  await lifecycle(s.messages, MessageSchema, c2c.map((r) => r.message) as [Message, Message]);
  expect(await s.messages.selectMessage(conv, 1)).toBeDefined();

  const group = [1, 2].map((seq) => groupRecord("g1", seq, { unpublished: true }));
  await s.groupMessages.appendMessages(group);
  await lifecycle(
    s.groupMessages,
    GroupMessageSchema,
    group.map((r) => r.message) as [GroupMessage, GroupMessage],
  );
  expect(await s.groupMessages.selectMessage("g1", 1)).toBeDefined();

  await s.messages.updateReadSeq("alice", conv, 1);
  await s.messages.updateReadSeq("alice", conv, 2);
  expect(await s.messages.selectReadSeq("alice", conv)).toBe(2);

  await s.deletedForMe.addDeletedSeqs("alice", conv, [1], 100);
  await s.deletedForMe.addDeletedSeqs("alice", conv, [2], 100);
  await s.deletedForMe.clearDeletedForMe("alice", conv, 1);
  await s.receipts.raiseDeliveredSeq("bob", conv, 1);
  await s.receipts.insertGroupReads([
    { groupId: "g1", messageKey: "g1:1", userId: "bob", timeMs: 1, expireAtMs: 1e15 },
  ]);

  await s.groupMembers.insertMembers([
    member("g1", "alice"),
    member("g1", "bob"),
    member("g1", "carol"),
  ]);
  expect(await s.groupMembers.updateMemberRole("g1", "bob", GroupRole.ADMIN)).toBe(true);
  await s.groupMembers.updateMemberProfile("g1", "bob", { nameCard: "B" });
  // Point reads on the send path (membership checks) and a no-op profile change.
  expect(await s.groupMembers.selectMember("g1", "bob")).toBeDefined();
  expect(await s.groupMembers.selectMembers("g1", ["alice", "bob"])).toHaveLength(2);
  expect(await s.groupMembers.updateMemberProfile("g1", "bob", {})).toBeDefined();
  expect(await s.groupMembers.updateMemberReadSeq("g1", "bob", 1)).toEqual({ before: 0, after: 1 });
  await s.groupMembers.updateMemberLastSend("g1", "bob", 5);
  await s.groupMembers.upsertMutes("g1", ["carol"], 100);
  await s.groupMembers.deleteMembers("g1", ["carol"]);

  await s.groupApplications.upsertJoinApplication({
    groupId: "g1",
    applicantUserId: "dave",
    message: "hi",
    appliedAtMs: 1,
  });
  await s.groupApplications.upsertJoinApplication({
    groupId: "g1",
    applicantUserId: "dave",
    message: "again",
    appliedAtMs: 2,
  });
  expect(await s.groupApplications.takeJoinApplication("g1", "dave")).toBeDefined();

  const friend = (ownerId: string, friendId: string) => ({
    ownerId,
    friendId,
    remark: "",
    source: "AddSource_Type_test",
    wording: "",
    listIds: [],
    custom: {},
    addedAtMs: 1,
  });
  await s.relations.insertFriends([friend("alice", "bob"), friend("bob", "alice")]);
  await s.relations.insertFriends([friend("alice", "bob"), friend("alice", "carol")]);
  await s.relations.updateFriend("alice", "bob", { remark: "B", setCustom: { k: "v" } });
  expect(
    await s.relations.insertFriendList({
      ownerId: "alice",
      listId: "l1",
      name: "work",
      createdAtMs: 1,
    }),
  ).toBe(true);
  await s.relations.addFriendsToList("alice", ["bob", "carol"], "l1");
  await s.relations.removeFriendsFromList("alice", ["carol"], "l1");
  expect(await s.relations.renameFriendList("alice", "work", "office")).toBe("renamed");
  await s.relations.insertFriendList({
    ownerId: "alice",
    listId: "l2",
    name: "gone",
    createdAtMs: 1,
  });
  expect(await s.relations.deleteFriendList("alice", "gone")).toBeDefined();
  await s.relations.deleteFriends([{ ownerId: "alice", otherId: "carol" }]);
  const request = {
    fromUserId: "dave",
    toUserId: "alice",
    direction: "both" as const,
    wording: "hi",
    source: "AddSource_Type_test",
    remark: "",
    listIds: [],
    createdAtMs: 1,
  };
  expect(await s.relations.upsertFriendRequest(request)).toBe("created");
  expect(await s.relations.upsertFriendRequest({ ...request, wording: "again" })).toBe("replaced");
  expect(await s.relations.deleteFriendRequest("dave", "alice")).toBeDefined();
  await s.relations.insertBlocks("alice", ["eve", "mallory"], 1);
  await s.relations.insertBlocks("alice", ["eve"], 2);
  await s.relations.deleteBlocks("alice", ["mallory"]);
  await readEverything(s);
}

/** Calls every store read of a collection sharded on fields other than `_id`. */
async function readEverything(s: MongoStores): Promise<void> {
  const conv = "c2c:alice:bob";
  const range = { afterSeq: 0, upToSeq: 0, minTimeMs: 0 };
  const below = { aboveSeq: 0, beforeSeq: 0, minTimeMs: 0, maxTimeMs: 1e15 };
  await s.messages.selectMessagesAfter(conv, range, 10);
  await s.messages.selectMessagesBefore(conv, below, 10);
  await s.messages.countUnread(conv, "bob", 0, 0, [1]);
  await s.messages.selectMessageByDedupKey("d1", 0);
  expect(await s.messages.selectConversations("alice", undefined, 10)).toHaveLength(1);
  await s.groupMessages.selectMessagesAfter("g1", range, 10);
  await s.groupMessages.selectMessagesBefore("g1", below, 10);
  await s.groupMessages.countGroupUnread("g1", "bob", 0, 0, [1]);
  await s.groupMessages.selectGroupMentions("g1", "bob", 0, 0);
  await s.groupMessages.selectReceiptRequests("g1", { afterSeq: 0, upToSeq: 9, minTimeMs: 0 });
  await s.groupMessages.selectMessageByDedupKey("d1", 0);
  await s.deletedForMe.selectDeletedForMe("alice", conv);
  await s.deletedForMe.selectDeletedForMeMany("alice", [conv, "c2c:alice:carol"]);
  await s.receipts.countGroupReads("g1:1");
  await s.receipts.selectGroupReaders("g1:1", "", 10);
  await s.receipts.selectGroupReadersAmong("g1:1", ["bob", "carol"]);
  await s.groupMembers.selectMembersPage("g1", "", 10);
  await s.groupMembers.selectMembersByRole("g1", [GroupRole.ADMIN]);
  await s.groupMembers.selectMembershipsOfUser("bob", "", 10);
  await s.groupMembers.selectMutes("g1", ["carol"]);
  await s.groupApplications.countJoinApplicationsOf("dave");
  await s.groupApplications.selectJoinApplications(["g1", "g2"], 10);
  await s.relations.selectFriends("alice", ["bob", "carol"]);
  await s.relations.selectFriendsPage("alice", undefined, 10);
  await s.relations.countFriends("alice");
  await s.relations.selectFriendOwners("bob");
  await s.relations.selectFriendOwners("bob", ["alice", "carol"]);
  await s.relations.selectFriendListMembers("alice");
  await s.relations.selectFriendRequest("dave", "alice");
  await s.relations.selectFriendRequests("alice", "incoming");
  await s.relations.selectFriendRequests("alice", "outgoing");
  await s.relations.countFriendRequests("alice", "incoming");
  await s.relations.selectFriendLists("alice");
  await s.relations.selectBlocksPage("alice", undefined, 10);
  await s.relations.countBlocks("alice");
  await s.relations.selectBlockedAmong("alice", ["eve"]);
  await s.relations.selectBlockersAmong("eve", ["alice", "bob"]);
}

/**
 * Message lifecycle of one kind: edit, recall, delete for everyone (a recall's
 * tombstone), each also losing its race (the read back of the message), then the
 * outbox reads and clears their marks.
 */
async function lifecycle<M extends Message | GroupMessage>(
  store: {
    editMessage(m: M): Promise<unknown>;
    recallMessage(m: M): Promise<unknown>;
    selectUnpublished(beforeMs: number, limit: number): Promise<unknown[]>;
    markPublished(keys: readonly string[]): Promise<void>;
  },
  schema: GenMessage<M>,
  [first, second]: [M, M],
): Promise<void> {
  const recall = (deletedForEveryone = false) =>
    create(MessageRecallSchema, {
      recalledByUserId: "alice",
      recalledAtMs: 9n,
      deletedForEveryone,
    });
  const edited = clone(schema, first);
  edited.edit = create(MessageEditSchema, { version: 1, editedAtMs: 8n, editedByUserId: "alice" });
  expect(await store.editMessage(edited)).toBe("edited");
  expect(await store.editMessage(edited)).toBe("stale");
  const tombstone = clone(schema, edited);
  tombstone.recall = recall();
  expect(await store.recallMessage(tombstone)).toBe("recalled");
  expect(await store.recallMessage(tombstone)).toBe("already-recalled");
  const deleted = clone(schema, second);
  deleted.recall = recall(true);
  expect(await store.recallMessage(deleted)).toBe("recalled");
  expect(await store.selectUnpublished(1e15, 10)).toHaveLength(2);
  await store.markPublished([edited.messageKey, deleted.messageKey]);
}
