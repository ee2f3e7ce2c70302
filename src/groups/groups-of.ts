import { MessageReceiveOption } from "../gen/im/v1/group_pb.js";
import type { FollowedGroup } from "../live/live-hub.js";
import type { GroupMemberStore } from "./store.js";

const PAGE = 500;

/**
 * The groups a user is in, for the live hub when the user's first stream opens
 * on a node: its streams then receive those groups' live traffic.
 */
export function createGroupsOf(deps: {
  members: Pick<GroupMemberStore, "selectMembershipsOfUser">;
}) {
  return async (userId: string): Promise<FollowedGroup[]> => {
    const followed: FollowedGroup[] = [];
    let after = "";
    for (;;) {
      const page = await deps.members.selectMembershipsOfUser(userId, after, PAGE);
      for (const m of page) {
        followed.push({
          groupId: m.groupId,
          discarding: m.receiveOption === MessageReceiveOption.DISCARD,
        });
      }
      const last = page.at(-1);
      if (last === undefined || page.length < PAGE) return followed;
      after = last.groupId;
    }
  };
}
