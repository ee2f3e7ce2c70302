import { createContext, type GroupsDeps } from "./context.js";
import { createLifecycle } from "./lifecycle.js";
import { createMemberAdmin } from "./member-admin.js";
import { createMembership } from "./membership.js";

/** Group management: the domain side of GroupService's management RPCs. */
export function createGroups(deps: GroupsDeps) {
  const ctx = createContext(deps);
  return {
    ...createLifecycle(ctx),
    ...createMembership(ctx),
    ...createMemberAdmin(ctx),
  };
}

export type Groups = ReturnType<typeof createGroups>;
export type { GroupsDeps };
