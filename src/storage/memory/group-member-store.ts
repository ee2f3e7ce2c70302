import { applyFieldChanges, cloneFields } from "../../groups/field-values.js";
import type { GroupMemberRecord, GroupMemberStore } from "../../groups/store.js";

export function createMemoryGroupMemberStore(): GroupMemberStore {
  // groupId -> userId -> membership
  const byGroup = new Map<string, Map<string, GroupMemberRecord>>();
  const mutes = new Map<string, Map<string, number>>();
  const copy = (m: GroupMemberRecord): GroupMemberRecord => ({
    ...m,
    customFields: cloneFields(m.customFields),
  });
  const membersOf = (groupId: string) => {
    let members = byGroup.get(groupId);
    if (members === undefined) {
      members = new Map();
      byGroup.set(groupId, members);
    }
    return members;
  };
  const sortedIds = (ids: Iterable<string>) =>
    [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  return {
    async insertMembers(records) {
      const inserted: string[] = [];
      for (const r of records) {
        const members = membersOf(r.groupId);
        if (members.has(r.userId)) continue;
        members.set(r.userId, copy(r));
        inserted.push(r.userId);
      }
      return inserted;
    },
    async selectMember(groupId, userId) {
      const m = byGroup.get(groupId)?.get(userId);
      return m === undefined ? undefined : copy(m);
    },
    async selectMembers(groupId, userIds) {
      const members = byGroup.get(groupId);
      return [...new Set(userIds)].flatMap((id) => {
        const m = members?.get(id);
        return m === undefined ? [] : [copy(m)];
      });
    },
    async selectMembersPage(groupId, afterUserId, limit) {
      const members = byGroup.get(groupId);
      if (members === undefined) return [];
      return sortedIds(members.keys())
        .filter((id) => id > afterUserId)
        .slice(0, limit)
        .map((id) => copy(members.get(id) as GroupMemberRecord));
    },
    async selectMembersByRole(groupId, roles) {
      const members = byGroup.get(groupId);
      if (members === undefined) return [];
      return sortedIds(members.keys())
        .map((id) => members.get(id) as GroupMemberRecord)
        .filter((m) => roles.includes(m.role))
        .map(copy);
    },
    async selectMembershipsOfUser(userId, afterGroupId, limit, roles) {
      const out: GroupMemberRecord[] = [];
      for (const groupId of sortedIds(byGroup.keys())) {
        if (groupId <= afterGroupId) continue;
        const m = byGroup.get(groupId)?.get(userId);
        if (m === undefined || (roles !== undefined && !roles.includes(m.role))) continue;
        out.push(copy(m));
        if (out.length >= limit) break;
      }
      return out;
    },
    async deleteMembers(groupId, userIds) {
      const members = byGroup.get(groupId);
      if (members === undefined) return [];
      return userIds.filter((id) => members.delete(id));
    },
    async deleteAllMembers(groupId) {
      byGroup.delete(groupId);
    },
    async updateMemberRole(groupId, userId, role) {
      const m = byGroup.get(groupId)?.get(userId);
      if (m === undefined) return false;
      m.role = role;
      return true;
    },
    async updateMemberProfile(groupId, userId, patch) {
      const m = byGroup.get(groupId)?.get(userId);
      if (m === undefined) return undefined;
      const { customFields, ...plain } = patch;
      Object.assign(m, plain);
      if (customFields !== undefined)
        m.customFields = applyFieldChanges(m.customFields, customFields);
      return copy(m);
    },
    async updateMemberReadSeq(groupId, userId, seq) {
      const m = byGroup.get(groupId)?.get(userId);
      if (m === undefined) return undefined;
      const before = m.readSeq;
      m.readSeq = Math.max(before, seq);
      return { before, after: m.readSeq };
    },
    async updateMemberLastSend(groupId, userId, atMs) {
      const m = byGroup.get(groupId)?.get(userId);
      if (m !== undefined) m.lastSendTimeMs = atMs;
    },
    async upsertMutes(groupId, userIds, untilMs) {
      let group = mutes.get(groupId);
      if (group === undefined) {
        group = new Map();
        mutes.set(groupId, group);
      }
      for (const id of userIds) {
        if (untilMs === 0) group.delete(id);
        else group.set(id, untilMs);
      }
    },
    async selectMutes(groupId, userIds) {
      const group = mutes.get(groupId);
      const out = new Map<string, number>();
      for (const id of userIds) {
        const until = group?.get(id);
        if (until !== undefined) out.set(id, until);
      }
      return out;
    },
    async deleteGroupMutes(groupId) {
      mutes.delete(groupId);
    },
  };
}
