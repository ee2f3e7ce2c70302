import { create } from "@bufbuild/protobuf";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import { GroupRole, GroupTipType } from "../gen/im/v1/group_pb.js";
import {
  GroupAfterMemberJoinEventSchema,
  type GroupMemberJoinType,
} from "../gen/im/v1/webhook_pb.js";
import type { GroupContext } from "./context.js";
import type { GroupMemberRecord, GroupRecord } from "./store.js";

export const groupFull = (): DomainError =>
  new DomainError("resource-exhausted", ErrorReason.GROUP_FULL, "the group is full");

/**
 * Makes users members (those who are not yet): reserves member slots first so the
 * limit holds, inserts, gives back slots of users who raced in meanwhile, then
 * tells the group and the app. Returns who was added and who already was a member.
 */
export async function admitMembers(
  ctx: GroupContext,
  group: GroupRecord,
  userIds: readonly string[],
  joinType: GroupMemberJoinType,
  operatorUserId: string,
): Promise<{ added: string[]; existing: string[] }> {
  const { deps } = ctx;
  const traits = ctx.traitsOf(group);
  const already = new Set(
    (await deps.members.selectMembers(group.groupId, userIds)).map((m) => m.userId),
  );
  const candidates = [...new Set(userIds)].filter((id) => !already.has(id));
  const existing = [...already];
  if (candidates.length === 0) return { added: [], existing };

  const counted = traits.memberList;
  if (
    counted &&
    !(await deps.groups.reserveMemberSlots(group.groupId, candidates.length, group.maxMemberCount))
  ) {
    throw groupFull();
  }
  const now = deps.clock();
  const records: GroupMemberRecord[] = candidates.map((userId) => ({
    groupId: group.groupId,
    userId,
    role: GroupRole.MEMBER,
    joinedAtMs: now,
    joinSeq: group.lastSeq,
    readSeq: group.lastSeq,
    receiveOption: traits.defaultReceiveOption,
    lastSendTimeMs: 0,
    nameCard: "",
    customFields: {},
  }));
  let added: string[];
  try {
    added = await deps.members.insertMembers(records);
  } catch (err) {
    if (counted) await deps.groups.releaseMemberSlots(group.groupId, candidates.length);
    throw err;
  }
  if (counted && added.length < candidates.length) {
    await deps.groups.releaseMemberSlots(group.groupId, candidates.length - added.length);
  }
  const raced = candidates.filter((id) => !added.includes(id));
  if (added.length === 0) return { added, existing: [...existing, ...raced] };

  // A pending application is moot once its applicant is in.
  await Promise.all(added.map((id) => deps.applications.takeJoinApplication(group.groupId, id)));
  deps.notifier.followers(group, added, true);
  deps.notifier.tip(
    group,
    { type: GroupTipType.MEMBERS_JOINED, operatorUserId, userIds: added },
    traits.memberChangeTips,
  );
  deps.webhooks.notifyGroupChange({
    case: "groupAfterMemberJoin",
    value: create(GroupAfterMemberJoinEventSchema, {
      groupId: group.groupId,
      joinType,
      operatorAccount: operatorUserId,
      memberAccounts: added,
    }),
  });
  return { added, existing: [...existing, ...raced] };
}
