import type { JoinApplicationRecord, JoinApplicationStore } from "../../groups/store.js";

export function createMemoryJoinApplicationStore(): JoinApplicationStore {
  // Key: groupId + NUL + applicant; NUL cannot occur in printable group ids.
  const applications = new Map<string, JoinApplicationRecord>();
  const keyOf = (groupId: string, userId: string) => `${groupId}\u0000${userId}`;
  return {
    async upsertJoinApplication(application) {
      const key = keyOf(application.groupId, application.applicantUserId);
      const existed = applications.has(key);
      applications.set(key, { ...application });
      return existed ? "renewed" : "created";
    },
    async countJoinApplicationsOf(applicantUserId) {
      let n = 0;
      for (const a of applications.values()) if (a.applicantUserId === applicantUserId) n++;
      return n;
    },
    async takeJoinApplication(groupId, applicantUserId) {
      const key = keyOf(groupId, applicantUserId);
      const a = applications.get(key);
      applications.delete(key);
      return a;
    },
    async selectJoinApplications(groupIds, limit) {
      const wanted = new Set(groupIds);
      return [...applications.values()]
        .filter((a) => wanted.has(a.groupId))
        .sort((a, b) => b.appliedAtMs - a.appliedAtMs)
        .slice(0, limit)
        .map((a) => ({ ...a }));
    },
    async deleteGroupJoinApplications(groupId) {
      for (const [key, a] of applications) if (a.groupId === groupId) applications.delete(key);
    },
  };
}
