import type { Caller } from "../../auth/caller.js";
import { ErrorReason, notFound, permissionDenied } from "../../errors/domain-error.js";
import { GroupRole } from "../../gen/im/v1/group_pb.js";
import { actorOf } from "../../groups/actor.js";
import { assertGroupId } from "../../groups/group-id.js";
import type { Actor } from "../../groups/group-types.js";
import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
} from "../../groups/store.js";

export interface GroupAccessDeps {
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMember">;
}

export interface GroupAccess {
  group: GroupRecord;
  /** The membership of `userId` (the caller, or the user an admin sends as). */
  member: GroupMemberRecord | undefined;
  actor: Actor;
}

/**
 * A member's standing for deleting for themselves: the group read fresh (its
 * latest seq), NOT_GROUP_MEMBER for anyone not a member (app admins included:
 * they have no view of their own to hide things from).
 */
export async function groupParticipantView(
  deps: GroupAccessDeps,
  caller: Caller,
  groupId: string,
): Promise<{ lastSeq: number }> {
  const { group, member } = await loadGroupAccess(deps, caller, groupId);
  if (member === undefined) {
    throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
  }
  return { lastSeq: group.lastSeq };
}

const groupNotFound = () =>
  notFound(ErrorReason.GROUP_NOT_FOUND, "the group does not exist", { field: "group_id" });

/**
 * Loads a group and a user's standing in it. A group that does not exist, or
 * an inactive one (a Work group before its first message) seen by anyone but
 * its owner or an app admin, is GROUP_NOT_FOUND, as in group management.
 */
export async function loadGroupAccess(
  deps: GroupAccessDeps,
  caller: Caller,
  groupId: string,
  userId: string = caller.userId,
): Promise<GroupAccess> {
  assertGroupId(groupId);
  const [group, member] = await Promise.all([
    deps.groups.selectGroup(groupId),
    deps.members.selectMember(groupId, userId),
  ]);
  if (group === undefined) throw groupNotFound();
  if (!group.active && !caller.isAdmin && member?.role !== GroupRole.OWNER) throw groupNotFound();
  return { group, member, actor: actorOf(caller, member) };
}
