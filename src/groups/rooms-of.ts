import type { GroupConfig } from "./config.js";
import type { GroupMemberStore, GroupStore } from "./store.js";

const PAGE = 500;

/**
 * The chat rooms (groups of a type without a member list: AVChatRoom) a user
 * is in, for the live hub when the user's first stream opens on a node.
 */
export function createRoomsOf(deps: {
  groups: Pick<GroupStore, "selectGroups">;
  members: Pick<GroupMemberStore, "selectMembershipsOfUser">;
  config: GroupConfig;
}) {
  return async (userId: string): Promise<string[]> => {
    const rooms: string[] = [];
    let after = "";
    for (;;) {
      const page = await deps.members.selectMembershipsOfUser(userId, after, PAGE);
      const groups = await deps.groups.selectGroups(page.map((m) => m.groupId));
      for (const g of groups) if (!deps.config.traits[g.type].memberList) rooms.push(g.groupId);
      const last = page.at(-1);
      if (last === undefined || page.length < PAGE) return rooms;
      after = last.groupId;
    }
  };
}
