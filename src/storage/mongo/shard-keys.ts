import type { Filter } from "mongodb";
import type { MongoCapabilities } from "./capabilities.js";

/** One shard key: fields in order, each ranged (1) or hashed. */
export type ShardKey = Readonly<Record<string, 1 | "hashed">>;

/**
 * The key each collection would be sharded on (docs/deployment.md, Shard keys,
 * lists the same; a test compares the two). `null`: stays unsharded.
 */
export const shardKeys: Readonly<Record<string, ShardKey | null>> = {
  messages: { conversationId: 1, seq: 1 },
  group_messages: { groupId: 1, seq: 1 },
  message_outbox: { _id: "hashed" },
  group_message_outbox: { _id: "hashed" },
  message_dedup: { _id: "hashed" },
  conversation_seqs: { _id: "hashed" },
  conversations: { ownerUserId: 1, conversationId: 1 },
  deleted_for_me: { ownerUserId: 1, conversationId: 1 },
  c2c_delivered: { _id: "hashed" },
  group_reads: { messageKey: 1, userId: 1 },
  accounts: { _id: "hashed" },
  profiles: { _id: "hashed" },
  groups: { _id: "hashed" },
  group_members: { groupId: 1, userId: 1 },
  group_mutes: { groupId: 1, userId: 1 },
  group_join_applications: { groupId: 1, applicantUserId: 1 },
  friends: { ownerId: 1, friendId: 1 },
  friend_requests: { toUserId: 1, fromUserId: 1 },
  friend_lists: { ownerId: 1, name: 1 },
  blocks: { ownerId: 1, blockedId: 1 },
  // Its unique token index could not be enforced across shards: one small document per device.
  push_registrations: null,
  push_badges: null,
  push_do_not_disturb: { _id: "hashed" },
  user_labels: { _id: "hashed" },
  push_broadcasts: { _id: "hashed" },
  push_claims: { _id: "hashed" },
};

/** Shard-key fields by value, or (for an `$in` of ids of several owners) by a list. */
export type ShardKeyFields<D> = {
  [K in Exclude<keyof D, "_id">]?: D[K] | { $in: readonly D[K][] };
};

/**
 * Builds the filter of a document whose `_id` is made of its shard-key fields
 * (`key`, by value). A sharded MongoDB needs the whole shard key in an upsert
 * or findAndModify (and routes any single-document write by it), so on
 * MongoDB the filter names `_id` and the key; FerretDB v1 serves only an exact
 * `{_id}` filter from an index, so there it names `_id` alone. `id` may be an
 * `$in` of ids, with `key` the fields they share or an `$in` of their owners
 * (routed to those owners' shards only).
 */
export type ShardKeyFilter = <D extends { _id: string }>(
  id: string | { $in: readonly string[] },
  key: ShardKeyFields<D>,
) => Filter<D>;

export function createShardKeyFilter(
  capabilities: Pick<MongoCapabilities, "indexedIdWithFields">,
): ShardKeyFilter {
  return <D extends { _id: string }>(
    id: string | { $in: readonly string[] },
    key: ShardKeyFields<D>,
  ) => (capabilities.indexedIdWithFields ? { ...key, _id: id } : { _id: id }) as Filter<D>;
}
