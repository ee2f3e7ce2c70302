import { createClient, type Transport } from "@connectrpc/connect";
import { GroupService, GroupType } from "../src/gen/im/v1/group_pb.js";

/** One group of the bench and who is in it. */
export interface BenchGroup {
  groupId: string;
  type: GroupType;
  /** Members other than the sender (the owner), in order. */
  memberIds: string[];
}

/**
 * Settings of the bench server that only speed up or quieten set-up: bigger
 * import and add batches, and no member-join tips, which would otherwise put
 * one stored tip per add call through the same fan-out that is measured, still
 * draining when the measurement starts. The message path keeps its defaults
 * (frequency limit 40/s, stream queue 10,000).
 */
export const SETUP_BATCH = 1000;
export const GROUP_BENCH_SERVER_ENV: Record<string, string> = {
  ACCOUNT_BATCH_MAX: String(SETUP_BATCH),
  GROUP_ADD_MEMBERS_MAX: String(SETUP_BATCH),
  GROUP_WORK_MEMBER_CHANGE_TIPS: "off",
  GROUP_PUBLIC_MEMBER_CHANGE_TIPS: "off",
  GROUP_COMMUNITY_MEMBER_CHANGE_TIPS: "off",
};

/**
 * Creates the group as the app admin with `ownerId` as owner (the sender) and
 * adds the members in batches (the admin may add to every type used here).
 */
export async function createBenchGroup(options: {
  transport: Transport;
  adminHeaders: Record<string, string>;
  groupId: string;
  type: GroupType;
  ownerId: string;
  memberIds: string[];
}): Promise<BenchGroup> {
  const client = createClient(GroupService, options.transport);
  const call = { headers: options.adminHeaders, timeoutMs: 60_000 };
  await client.createGroup(
    {
      type: options.type,
      name: options.groupId,
      groupId: options.groupId,
      ownerUserId: options.ownerId,
    },
    call,
  );
  for (let i = 0; i < options.memberIds.length; i += SETUP_BATCH) {
    await client.addGroupMembers(
      { groupId: options.groupId, userIds: options.memberIds.slice(i, i + SETUP_BATCH) },
      call,
    );
  }
  return { groupId: options.groupId, type: options.type, memberIds: options.memberIds };
}

/** Public holds up to 2,000 members by default; larger groups are Community. */
export const typeForSize = (members: number): GroupType =>
  members <= 2000 ? GroupType.PUBLIC : GroupType.COMMUNITY;

export const userIdsOf = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}_${i}`);
