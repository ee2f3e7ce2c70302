import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
} from "../groups/store.js";

/**
 * How much of a user one total reads: their most recent one-to-one
 * conversations, the first memberships (by group id) scanned for unread, and
 * of those the groups with the most recent messages counted. Unread beyond
 * these bounds is left out of the total (a badge, not an audit). Each
 * conversation or group with unread costs a count (and a read seq read on
 * FerretDB): measured on FerretDB, 20 + 20 with unread took about 0.6 s, 100 +
 * 100 about 25 s, hence 20.
 */
export const UNREAD_TOTAL_BOUNDS = {
  /** Most recent one-to-one conversations counted. */
  conversations: 20,
  /** Memberships read (one page, with their groups in one read) to find the groups with unread. */
  membershipsScanned: 500,
  /** Groups with unread counted, the most recently active first. */
  groups: 20,
} as const;

export interface UnreadTotalDeps {
  /** Unread of the user's `limit` most recent one-to-one conversations (the c2c history's rule). */
  c2cRecentUnread(userId: string, limit: number): Promise<number[]>;
  members: Pick<GroupMemberStore, "selectMembershipsOfUser">;
  groups: Pick<GroupStore, "selectGroups">;
  /** A user's unread counts in groups as the group history counts them (0 for types without unread). */
  groupUnreadOfMany(
    userId: string,
    of: readonly { group: GroupRecord; member: GroupMemberRecord }[],
  ): Promise<number[]>;
  bounds?: { conversations: number; membershipsScanned: number; groups: number };
}

/** A user's total unread over their conversations and groups, within the bounds. */
export type UnreadTotal = (userId: string) => Promise<number>;

/**
 * The total of the per-conversation unread counts the lists show, written
 * with their rules (read seqs, deleted-for-me, retention): no rule of its own
 * beyond which conversations it reads.
 */
export function createUnreadTotal(deps: UnreadTotalDeps): UnreadTotal {
  const bounds = deps.bounds ?? UNREAD_TOTAL_BOUNDS;
  const groupTotal = async (userId: string) => {
    const memberships = await deps.members.selectMembershipsOfUser(
      userId,
      "",
      bounds.membershipsScanned,
    );
    // Members read to the latest need no count (the group history skips them too).
    const groups = new Map(
      (await deps.groups.selectGroups(memberships.map((m) => m.groupId))).map((g) => [
        g.groupId,
        g,
      ]),
    );
    const unread = memberships.flatMap((member) => {
      const group = groups.get(member.groupId);
      return group !== undefined && member.readSeq < group.lastSeq ? [{ group, member }] : [];
    });
    unread.sort((a, b) => b.group.lastMessageTimeMs - a.group.lastMessageTimeMs);
    return sum(await deps.groupUnreadOfMany(userId, unread.slice(0, bounds.groups)));
  };
  return async (userId) => {
    const [c2c, groups] = await Promise.all([
      deps.c2cRecentUnread(userId, bounds.conversations),
      groupTotal(userId),
    ]);
    return sum(c2c) + groups;
  };
}

const sum = (ns: readonly number[]): number => ns.reduce((a, b) => a + b, 0);
