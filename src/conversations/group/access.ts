import type { Caller } from "../../auth/caller.js";
import { ErrorReason, notFound } from "../../errors/domain-error.js";
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
