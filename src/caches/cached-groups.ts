import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
} from "../groups/store.js";
import type { LookupCache } from "./lookup-cache.js";

/** Cache key of one user in one group (group ids and user ids hold no NUL). */
export const memberKey = (groupId: string, userId: string) => `${groupId}\u0000${userId}`;
/** The prefix of every member key of a group. */
export const groupMembersPrefix = (groupId: string) => `${groupId}\u0000`;

export interface GroupMemberRef {
  groupId: string;
  userId: string;
}

/** What changed, for `LookupsChanged`: whole groups, or single memberships/mutes. */
export interface GroupChanges {
  groupIds: readonly string[];
  members: readonly GroupMemberRef[];
}

/**
 * The group stores whose writes of what group sends read (the group's
 * document, memberships and roles, mutes) drop those facts from every node's
 * caches before they return. Per-message counters (seqs, member slots, read
 * and last-send marks) are not invalidated: the send path does not read them.
 */
export function createNotifyingGroupStores(
  stores: { groups: GroupStore; members: GroupMemberStore },
  changed: (changes: GroupChanges) => Promise<void>,
): { groups: GroupStore; members: GroupMemberStore } {
  const { groups, members } = stores;
  const wholeGroup = (groupId: string) => changed({ groupIds: [groupId], members: [] });
  const someMembers = (groupId: string, userIds: readonly string[]) =>
    changed({ groupIds: [], members: userIds.map((userId) => ({ groupId, userId })) });
  return {
    groups: {
      ...groups, // the adapters are plain objects of functions
      async updateGroupProfile(groupId, patch, nowMs) {
        const result = await groups.updateGroupProfile(groupId, patch, nowMs);
        await wholeGroup(groupId);
        return result;
      },
      async updateGroupOwner(groupId, ownerUserId, nowMs) {
        const result = await groups.updateGroupOwner(groupId, ownerUserId, nowMs);
        await wholeGroup(groupId);
        return result;
      },
      async deleteGroup(groupId) {
        const result = await groups.deleteGroup(groupId);
        await wholeGroup(groupId);
        return result;
      },
    },
    members: {
      ...members,
      async deleteMembers(groupId, userIds) {
        const deleted = await members.deleteMembers(groupId, userIds);
        await someMembers(groupId, deleted);
        return deleted;
      },
      async deleteAllMembers(groupId) {
        await members.deleteAllMembers(groupId);
        await wholeGroup(groupId);
      },
      async updateMemberRole(groupId, userId, role) {
        const result = await members.updateMemberRole(groupId, userId, role);
        await someMembers(groupId, [userId]);
        return result;
      },
      async updateMemberProfile(groupId, userId, patch) {
        const result = await members.updateMemberProfile(groupId, userId, patch);
        await someMembers(groupId, [userId]);
        return result;
      },
      async upsertMutes(groupId, userIds, untilMs) {
        await members.upsertMutes(groupId, userIds, untilMs);
        await someMembers(groupId, userIds);
      },
      async deleteGroupMutes(groupId) {
        await members.deleteGroupMutes(groupId);
        await wholeGroup(groupId);
      },
    },
  };
}

export interface GroupSendCaches {
  /** Active groups only (an absent or not yet active group is asked again). */
  records: LookupCache<GroupRecord>;
  /** Memberships that exist (a non-member is asked again). */
  members: LookupCache<GroupMemberRecord>;
  /** Mute end per member, 0 for none. */
  mutes: LookupCache<number>;
}

/**
 * The group stores as the group send path reads them: the group, the
 * sender's membership and mute from the caches. For the send path only: a
 * cached group's counters (lastSeq, memberCount, infoSeq, last message time)
 * and a cached member's read and last-send marks are not current.
 */
export function createCachedGroupSendStores(
  stores: { groups: GroupStore; members: GroupMemberStore },
  caches: GroupSendCaches,
): { groups: GroupStore; members: GroupMemberStore } {
  const { groups, members } = stores;
  return {
    groups: {
      ...groups,
      async selectGroup(groupId) {
        let read: GroupRecord | undefined;
        const found = await caches.records.getMany([groupId], async () => {
          read = await groups.selectGroup(groupId);
          return new Map(read?.active ? [[groupId, read]] : []);
        });
        return found.get(groupId) ?? read;
      },
    },
    members: {
      ...members,
      async selectMember(groupId, userId) {
        const key = memberKey(groupId, userId);
        const found = await caches.members.getMany([key], async () => {
          const member = await members.selectMember(groupId, userId);
          return new Map(member === undefined ? [] : [[key, member]]);
        });
        return found.get(key);
      },
      async selectMutes(groupId, userIds) {
        const keyOf = new Map(userIds.map((id) => [memberKey(groupId, id), id]));
        const found = await caches.mutes.getMany([...keyOf.keys()], async (missing) => {
          const ids = missing.map((k) => keyOf.get(k) ?? "");
          const until = await members.selectMutes(groupId, ids);
          return new Map(ids.map((id) => [memberKey(groupId, id), until.get(id) ?? 0]));
        });
        const mutes = new Map<string, number>();
        for (const [key, until] of found) {
          const userId = keyOf.get(key);
          if (userId !== undefined && until !== 0) mutes.set(userId, until);
        }
        return mutes;
      },
    },
  };
}
