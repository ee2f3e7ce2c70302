import { describe, expect, it } from "vitest";
import type { GroupMemberRecord, GroupRecord } from "../groups/store.js";
import { createUnreadTotal } from "./unread-total.js";

const group = (groupId: string, lastSeq: number, lastMessageTimeMs: number) =>
  ({ groupId, lastSeq, lastMessageTimeMs }) as GroupRecord;
const member = (groupId: string, readSeq: number) =>
  ({ groupId, userId: "u", readSeq }) as GroupMemberRecord;

/** A user in four groups: "read" is read to its latest; the others have lastSeq - readSeq unread. */
function fixture() {
  const groups = [
    group("a", 5, 100),
    group("b", 9, 300),
    group("c", 4, 200),
    group("read", 7, 400),
  ];
  const members = [member("a", 3), member("b", 8), member("c", 0), member("read", 7)];
  const asked = { memberships: 0, counted: [] as string[] };
  const deps = {
    c2cRecentUnread: async (_userId: string, limit: number) => [2, 5, 1].slice(0, limit),
    members: {
      selectMembershipsOfUser: async (_u: string, _after: string, limit: number) => {
        asked.memberships = limit;
        return members.slice(0, limit);
      },
    },
    groups: {
      selectGroups: async (ids: readonly string[]) => groups.filter((g) => ids.includes(g.groupId)),
    },
    groupUnreadOfMany: async (
      _userId: string,
      of: readonly { group: GroupRecord; member: GroupMemberRecord }[],
    ) =>
      of.map(({ group, member }) => {
        asked.counted.push(group.groupId);
        return group.lastSeq - member.readSeq;
      }),
  };
  return { deps, asked };
}

describe("unread total", () => {
  it("sums one-to-one and group unread with the groups' own rule, counting no group read to its latest", async () => {
    const { deps, asked } = fixture();
    expect(await createUnreadTotal(deps)("u")).toBe(2 + 5 + 1 + (2 + 1 + 4));
    expect(asked.counted.sort()).toEqual(["a", "b", "c"]);
  });

  it("stays within its bounds: recent conversations, scanned memberships, most recently active groups", async () => {
    const { deps, asked } = fixture();
    const total = createUnreadTotal({
      ...deps,
      bounds: { conversations: 2, membershipsScanned: 3, groups: 2 },
    });
    // c2c 2 + 5; of a, b, c (scanned) the two most recent: b (300) and c (200).
    expect(await total("u")).toBe(2 + 5 + 1 + 4);
    expect(asked.memberships).toBe(3);
    expect(asked.counted.sort()).toEqual(["b", "c"]);
  });
});
