import { applyFieldChanges, cloneFields } from "../../groups/field-values.js";
import type { GroupRecord, GroupStore } from "../../groups/store.js";

export function createMemoryGroupStore(): GroupStore {
  const groups = new Map<string, GroupRecord>();
  const copy = (g: GroupRecord): GroupRecord => ({
    ...g,
    customFields: cloneFields(g.customFields),
  });
  return {
    async insertGroup(group) {
      if (groups.has(group.groupId)) return false;
      groups.set(group.groupId, copy(group));
      return true;
    },
    async selectGroup(groupId) {
      const g = groups.get(groupId);
      return g === undefined ? undefined : copy(g);
    },
    async selectGroups(groupIds) {
      return [...new Set(groupIds)].flatMap((id) => {
        const g = groups.get(id);
        return g === undefined ? [] : [copy(g)];
      });
    },
    async updateGroupProfile(groupId, patch, nowMs) {
      const g = groups.get(groupId);
      if (g === undefined) return undefined;
      const { customFields, ...plain } = patch;
      Object.assign(g, plain);
      if (customFields !== undefined)
        g.customFields = applyFieldChanges(g.customFields, customFields);
      g.infoSeq += 1;
      g.lastInfoTimeMs = nowMs;
      return copy(g);
    },
    async updateGroupOwner(groupId, ownerUserId, nowMs) {
      const g = groups.get(groupId);
      if (g === undefined) return false;
      g.ownerUserId = ownerUserId;
      g.infoSeq += 1;
      g.lastInfoTimeMs = nowMs;
      return true;
    },
    async reserveMemberSlots(groupId, n, max) {
      const g = groups.get(groupId);
      if (g === undefined || (max > 0 && g.memberCount + n > max)) return false;
      g.memberCount += n;
      return true;
    },
    async releaseMemberSlots(groupId, n) {
      const g = groups.get(groupId);
      if (g !== undefined) g.memberCount -= n;
    },
    async allocateGroupSeqs(groupId, n, nowMs) {
      const g = groups.get(groupId);
      if (g === undefined) return undefined;
      g.lastSeq += n;
      g.lastMessageTimeMs = nowMs;
      g.active = true;
      return g.lastSeq;
    },
    async deleteGroup(groupId) {
      return groups.delete(groupId);
    },
  };
}
