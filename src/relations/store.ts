import type { CustomValue } from "../profiles/custom-fields.js";

/** One entry of a friend list: `ownerId` has `friendId`. */
export interface FriendRecord {
  ownerId: string;
  friendId: string;
  remark: string;
  source: string;
  wording: string;
  /**
   * Ids of the owner's friend lists the friend is in. Ids of deleted lists may
   * linger (deleting a list and pulling its id are two writes); readers ignore them.
   */
  listIds: string[];
  custom: Record<string, CustomValue>;
  addedAtMs: number;
}

/** A directed relation key: `ownerId`'s list (or blocklist) holds `otherId`. */
export interface RelationPair {
  ownerId: string;
  otherId: string;
}

export interface FriendPatch {
  remark?: string;
  listIds?: string[];
  setCustom?: Record<string, CustomValue>;
  unsetCustom?: readonly string[];
}

export type Direction = "single" | "both";

/** A pending friend request: `fromUserId` asks to have `toUserId` as a friend. */
export interface FriendRequestRecord {
  fromUserId: string;
  toUserId: string;
  direction: Direction;
  wording: string;
  source: string;
  remark: string;
  /** The requester's list ids for the target. */
  listIds: string[];
  createdAtMs: number;
}

export interface FriendListRecord {
  ownerId: string;
  /** Stable id: friend entries refer to it, so a rename touches one document. */
  listId: string;
  name: string;
  createdAtMs: number;
}

export interface BlockRecord {
  ownerId: string;
  blockedId: string;
  blockedAtMs: number;
}

/**
 * Storage port of the relationship chain. No operation spans documents
 * atomically (FerretDB has no transactions); each is idempotent so a retried
 * request converges, and the domain validates before it writes.
 */
export interface RelationStore {
  /**
   * Inserts entries whose (owner, friend) pair is absent; present pairs keep their
   * data. Returns the pairs inserted, in input order.
   */
  insertFriends(records: readonly FriendRecord[]): Promise<RelationPair[]>;
  /** Patches one entry; returns it as now stored, or undefined when absent. */
  updateFriend(
    ownerId: string,
    friendId: string,
    patch: FriendPatch,
  ): Promise<FriendRecord | undefined>;
  /** Deletes the pairs that exist; returns those, in input order. */
  deleteFriends(pairs: readonly RelationPair[]): Promise<RelationPair[]>;
  /** The owner's entries for these friends; non-friends are absent from the map. */
  selectFriends(ownerId: string, friendIds: readonly string[]): Promise<Map<string, FriendRecord>>;
  /**
   * Up to `limit` of the owner's entries ordered by friend id, starting after
   * `afterFriendId` (exclusive; from the first when undefined).
   */
  selectFriendsPage(
    ownerId: string,
    afterFriendId: string | undefined,
    limit: number,
  ): Promise<FriendRecord[]>;
  countFriends(ownerId: string): Promise<number>;
  /**
   * Users who have `friendId` as a friend: all of them, or only those among
   * `ownerIds` when given. Unordered.
   */
  selectFriendOwners(friendId: string, ownerIds?: readonly string[]): Promise<string[]>;
  /** Adds `listId` to the owner's entries of these friends; non-friends are skipped. */
  addFriendsToList(ownerId: string, friendIds: readonly string[], listId: string): Promise<void>;
  /** Removes `listId` from the owner's entries of these friends (all entries when undefined). */
  removeFriendsFromList(
    ownerId: string,
    friendIds: readonly string[] | undefined,
    listId: string,
  ): Promise<void>;
  /** Friend ids of the owner by list id, each ordered by friend id; lists without members absent. */
  selectFriendListMembers(ownerId: string): Promise<Map<string, string[]>>;

  /** Creates the pending request, or replaces the one with the same (from, to). */
  upsertFriendRequest(record: FriendRequestRecord): Promise<"created" | "replaced">;
  /** The pending request from -> to, or undefined. */
  selectFriendRequest(
    fromUserId: string,
    toUserId: string,
  ): Promise<FriendRequestRecord | undefined>;
  /** Deletes the pending request from -> to; returns it, or undefined when there was none. */
  deleteFriendRequest(
    fromUserId: string,
    toUserId: string,
  ): Promise<FriendRequestRecord | undefined>;
  /** Pending requests sent to (incoming) or by (outgoing) the user, oldest first (ties by the other user's id). */
  selectFriendRequests(
    userId: string,
    direction: "incoming" | "outgoing",
  ): Promise<FriendRequestRecord[]>;
  countFriendRequests(userId: string, direction: "incoming" | "outgoing"): Promise<number>;

  /** Inserts the list; false (nothing written) when the owner has a list of that name. */
  insertFriendList(record: FriendListRecord): Promise<boolean>;
  /** The owner's lists, by creation time then name. */
  selectFriendLists(ownerId: string): Promise<FriendListRecord[]>;
  renameFriendList(
    ownerId: string,
    name: string,
    newName: string,
  ): Promise<"renamed" | "not-found" | "name-taken">;
  /** Deletes the list document (members keep a stale id; see FriendRecord.listIds); returns it, or undefined. */
  deleteFriendList(ownerId: string, name: string): Promise<FriendListRecord | undefined>;

  /** Inserts absent (owner, blocked) pairs; present ones keep their time. Returns the blocked ids inserted. */
  insertBlocks(ownerId: string, blockedIds: readonly string[], nowMs: number): Promise<string[]>;
  /** Deletes the entries that exist; returns those blocked ids, in input order. */
  deleteBlocks(ownerId: string, blockedIds: readonly string[]): Promise<string[]>;
  /** Up to `limit` entries ordered by blocked id, after `afterBlockedId` (exclusive). */
  selectBlocksPage(
    ownerId: string,
    afterBlockedId: string | undefined,
    limit: number,
  ): Promise<BlockRecord[]>;
  countBlocks(ownerId: string): Promise<number>;
  /** The subset of `blockedIds` that `ownerId` has blocked. */
  selectBlockedAmong(ownerId: string, blockedIds: readonly string[]): Promise<Set<string>>;
  /** The subset of `ownerIds` that have blocked `blockedId`. */
  selectBlockersAmong(blockedId: string, ownerIds: readonly string[]): Promise<Set<string>>;
}
