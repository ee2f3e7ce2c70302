import type { ProfileRecord, ProfileStore } from "../../profiles/store.js";

export function createMemoryProfileStore(): ProfileStore {
  const profiles = new Map<string, ProfileRecord>();
  return {
    async upsertProfiles(changes, nowMs) {
      for (const change of changes) {
        const fields = { ...profiles.get(change.userId)?.fields, ...change.set };
        for (const name of change.unset) delete fields[name];
        profiles.set(change.userId, { userId: change.userId, fields, updatedAtMs: nowMs });
      }
    },
    async selectProfiles(userIds) {
      const found = new Map<string, ProfileRecord>();
      for (const id of userIds) {
        const p = profiles.get(id);
        if (p !== undefined) found.set(id, { ...p, fields: { ...p.fields } });
      }
      return found;
    },
  };
}
