import type {
  BlockRecord,
  FriendListRecord,
  FriendRecord,
  FriendRequestRecord,
  RelationStore,
} from "../../relations/store.js";

const key = (a: string, b: string) => `${a}:${b}`;
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const copyFriend = (f: FriendRecord): FriendRecord => ({
  ...f,
  listIds: [...f.listIds],
  custom: { ...f.custom },
});

/** A map of maps: outer key -> inner key -> value, with empty inner maps dropped. */
class Nested<V> {
  private readonly outer = new Map<string, Map<string, V>>();
  get = (a: string, b: string) => this.outer.get(a)?.get(b);
  has = (a: string, b: string) => this.outer.get(a)?.has(b) ?? false;
  set(a: string, b: string, v: V) {
    const inner = this.outer.get(a) ?? new Map<string, V>();
    this.outer.set(a, inner);
    inner.set(b, v);
  }
  delete(a: string, b: string): boolean {
    const inner = this.outer.get(a);
    const deleted = inner?.delete(b) ?? false;
    if (inner?.size === 0) this.outer.delete(a);
    return deleted;
  }
  keysOf = (a: string) => [...(this.outer.get(a)?.keys() ?? [])];
  valuesOf = (a: string) => [...(this.outer.get(a)?.values() ?? [])];
  sizeOf = (a: string) => this.outer.get(a)?.size ?? 0;
}

export function createMemoryRelationStore(): RelationStore {
  // Friends by owner, plus the reverse index (friend -> owners) profile events need.
  const friends = new Nested<FriendRecord>();
  const owners = new Nested<true>();
  const blocks = new Nested<BlockRecord>();
  const requests = new Map<string, FriendRequestRecord>();
  const lists = new Map<string, FriendListRecord>();

  const friendsOf = (ownerId: string) =>
    friends.valuesOf(ownerId).sort((a, b) => byString(a.friendId, b.friendId));
  const requestsOf = (userId: string, direction: "incoming" | "outgoing") =>
    [...requests.values()]
      .filter((r) => (direction === "incoming" ? r.toUserId : r.fromUserId) === userId)
      .sort(
        (a, b) =>
          a.createdAtMs - b.createdAtMs ||
          (direction === "incoming"
            ? byString(a.fromUserId, b.fromUserId)
            : byString(a.toUserId, b.toUserId)),
      );
  const listsOf = (ownerId: string) =>
    [...lists.values()]
      .filter((l) => l.ownerId === ownerId)
      .sort((a, b) => a.createdAtMs - b.createdAtMs || byString(a.name, b.name));

  return {
    async insertFriends(records) {
      const inserted = [];
      for (const r of records) {
        if (friends.has(r.ownerId, r.friendId)) continue;
        friends.set(r.ownerId, r.friendId, copyFriend(r));
        owners.set(r.friendId, r.ownerId, true);
        inserted.push({ ownerId: r.ownerId, otherId: r.friendId });
      }
      return inserted;
    },
    async updateFriend(ownerId, friendId, patch) {
      const f = friends.get(ownerId, friendId);
      if (f === undefined) return undefined;
      if (patch.remark !== undefined) f.remark = patch.remark;
      if (patch.listIds !== undefined) f.listIds = [...new Set(patch.listIds)];
      Object.assign(f.custom, patch.setCustom);
      for (const name of patch.unsetCustom ?? []) delete f.custom[name];
      return copyFriend(f);
    },
    async deleteFriends(pairs) {
      return pairs.filter((p) => {
        owners.delete(p.otherId, p.ownerId);
        return friends.delete(p.ownerId, p.otherId);
      });
    },
    async selectFriends(ownerId, friendIds) {
      const found = new Map<string, FriendRecord>();
      for (const id of friendIds) {
        const f = friends.get(ownerId, id);
        if (f !== undefined) found.set(id, copyFriend(f));
      }
      return found;
    },
    async selectFriendsPage(ownerId, after, limit) {
      return friendsOf(ownerId)
        .filter((f) => after === undefined || f.friendId > after)
        .slice(0, limit)
        .map(copyFriend);
    },
    async countFriends(ownerId) {
      return friends.sizeOf(ownerId);
    },
    async selectFriendOwners(friendId, ownerIds) {
      if (ownerIds === undefined) return owners.keysOf(friendId);
      return [...new Set(ownerIds)].filter((id) => owners.has(friendId, id));
    },
    async addFriendsToList(ownerId, friendIds, listId) {
      for (const id of friendIds) {
        const f = friends.get(ownerId, id);
        if (f !== undefined && !f.listIds.includes(listId)) f.listIds.push(listId);
      }
    },
    async removeFriendsFromList(ownerId, friendIds, listId) {
      const targets =
        friendIds === undefined
          ? friendsOf(ownerId)
          : friendIds.map((id) => friends.get(ownerId, id));
      for (const f of targets)
        if (f !== undefined) f.listIds = f.listIds.filter((l) => l !== listId);
    },
    async selectFriendListMembers(ownerId) {
      const members = new Map<string, string[]>();
      for (const f of friendsOf(ownerId)) {
        for (const listId of f.listIds)
          members.set(listId, [...(members.get(listId) ?? []), f.friendId]);
      }
      return members;
    },

    async upsertFriendRequest(record) {
      const k = key(record.fromUserId, record.toUserId);
      const existed = requests.has(k);
      requests.set(k, { ...record, listIds: [...record.listIds] });
      return existed ? "replaced" : "created";
    },
    async selectFriendRequest(from, to) {
      const r = requests.get(key(from, to));
      return r === undefined ? undefined : { ...r, listIds: [...r.listIds] };
    },
    async deleteFriendRequest(from, to) {
      const k = key(from, to);
      const r = requests.get(k);
      requests.delete(k);
      return r;
    },
    async selectFriendRequests(userId, direction) {
      return requestsOf(userId, direction).map((r) => ({ ...r, listIds: [...r.listIds] }));
    },
    async countFriendRequests(userId, direction) {
      return requestsOf(userId, direction).length;
    },

    async insertFriendList(record) {
      if (listsOf(record.ownerId).some((l) => l.name === record.name)) return false;
      lists.set(record.listId, { ...record });
      return true;
    },
    async selectFriendLists(ownerId) {
      return listsOf(ownerId).map((l) => ({ ...l }));
    },
    async renameFriendList(ownerId, name, newName) {
      const owned = listsOf(ownerId);
      const list = owned.find((l) => l.name === name);
      if (list === undefined) return "not-found";
      if (name === newName) return "renamed";
      if (owned.some((l) => l.name === newName)) return "name-taken";
      list.name = newName;
      return "renamed";
    },
    async deleteFriendList(ownerId, name) {
      const list = listsOf(ownerId).find((l) => l.name === name);
      if (list !== undefined) lists.delete(list.listId);
      return list;
    },

    async insertBlocks(ownerId, blockedIds, nowMs) {
      const inserted: string[] = [];
      for (const id of blockedIds) {
        if (blocks.has(ownerId, id)) continue;
        blocks.set(ownerId, id, { ownerId, blockedId: id, blockedAtMs: nowMs });
        inserted.push(id);
      }
      return inserted;
    },
    async deleteBlocks(ownerId, blockedIds) {
      return blockedIds.filter((id) => blocks.delete(ownerId, id));
    },
    async selectBlocksPage(ownerId, after, limit) {
      return blocks
        .valuesOf(ownerId)
        .filter((b) => after === undefined || b.blockedId > after)
        .sort((a, b) => byString(a.blockedId, b.blockedId))
        .slice(0, limit)
        .map((b) => ({ ...b }));
    },
    async countBlocks(ownerId) {
      return blocks.sizeOf(ownerId);
    },
    async selectBlockedAmong(ownerId, blockedIds) {
      return new Set(blockedIds.filter((id) => blocks.has(ownerId, id)));
    },
    async selectBlockersAmong(blockedId, ownerIds) {
      return new Set(ownerIds.filter((id) => blocks.has(id, blockedId)));
    },
  };
}
