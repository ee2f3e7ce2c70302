import { ErrorReason, invalidArgument, permissionDenied } from "../../errors/domain-error.js";
import type { Actor } from "../../groups/group-types.js";
import type { GroupMemberStore } from "../../groups/store.js";

/** Roles that may @-mention everyone by default (reference: owner and admins). */
const AT_ALL_ACTORS: ReadonlySet<Actor> = new Set<Actor>(["appAdmin", "owner", "admin"]);

/**
 * The @-mentions of a group send: @all only by the owner, admins and app
 * admins (any member with `atAllByMembers`), and every mentioned user a member
 * of the group. One store read, only when someone is mentioned.
 */
export async function checkMentions(
  deps: {
    members: Pick<GroupMemberStore, "selectMembers">;
    config: { atAllByMembers: boolean };
  },
  groupId: string,
  actor: Actor,
  req: { atUserIds: readonly string[]; atAll: boolean },
): Promise<void> {
  if (req.atAll && !deps.config.atAllByMembers && !AT_ALL_ACTORS.has(actor)) {
    throw permissionDenied(
      ErrorReason.AT_ALL_NOT_ALLOWED,
      "only the group owner and admins may mention everyone",
      { field: "at_all" },
    );
  }
  if (req.atUserIds.length === 0) return;
  const members = new Set(
    (await deps.members.selectMembers(groupId, [...new Set(req.atUserIds)])).map((m) => m.userId),
  );
  const outsider = req.atUserIds.findIndex((id) => !members.has(id));
  if (outsider !== -1) {
    throw invalidArgument(
      ErrorReason.MENTION_NOT_MEMBER,
      `at_user_ids[${outsider}] is not a member of the group`,
      { field: `at_user_ids[${outsider}]` },
    );
  }
}
