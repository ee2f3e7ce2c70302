import type { Caller } from "../auth/caller.js";
import { DomainError, ErrorReason, permissionDenied } from "../errors/domain-error.js";
import { GroupRole } from "../gen/im/v1/group_pb.js";
import {
  ACTORS,
  type Actor,
  isAllowed,
  OPERATIONS,
  type Operation,
  PERMISSIONS,
} from "./group-types.js";
import type { GroupMemberRecord, GroupRecord } from "./store.js";

/** Who the caller is in one group. App admin wins over any membership it may also hold. */
export function actorOf(caller: Caller, member: GroupMemberRecord | undefined): Actor {
  if (caller.isAdmin) return "appAdmin";
  return roleActor(member?.role);
}

export function roleActor(role: GroupRole | undefined): Actor {
  switch (role) {
    case GroupRole.OWNER:
      return "owner";
    case GroupRole.ADMIN:
      return "admin";
    case GroupRole.MEMBER:
      return "member";
    default:
      return "nonMember";
  }
}

/** Rank for custom field levels and "higher role" checks. */
export const ACTOR_RANK: Record<Actor, number> = {
  nonMember: 0,
  member: 1,
  admin: 2,
  owner: 3,
  appAdmin: 4,
};

/** Operations some group type opens to non-members (applying to join, reading a profile). */
const NON_MEMBER_OPERATIONS: ReadonlySet<Operation> = new Set(
  OPERATIONS.filter((op) =>
    Object.values(PERMISSIONS).some((row) => row[op].includes("nonMember")),
  ),
);

/**
 * Throws unless the matrix allows `op`: NOT_GROUP_MEMBER when the caller is not
 * a member of a group whose operation is for members only (checked first: a
 * non-member learns nothing about the group, not even its type), GROUP_TYPE_UNSUPPORTED when no one may do it in this type,
 * GROUP_PERMISSION_DENIED when the caller's role is too low.
 */
export function requireAllowed(group: GroupRecord, op: Operation, actor: Actor): void {
  if (isAllowed(group.type, op, actor)) return;
  if (!NON_MEMBER_OPERATIONS.has(op)) requireMember(actor);
  if (!ACTORS.some((a) => isAllowed(group.type, op, a))) throw typeUnsupported(op);
  throw permissionDenied(
    ErrorReason.GROUP_PERMISSION_DENIED,
    `your role in this group does not allow ${op}`,
  );
}

export const typeUnsupported = (what: string): DomainError =>
  new DomainError(
    "failed-precondition",
    ErrorReason.GROUP_TYPE_UNSUPPORTED,
    `this group type does not support ${what}`,
  );

/** NOT_GROUP_MEMBER unless the caller is a member (or the app admin). */
export function requireMember(actor: Actor): void {
  if (actor === "nonMember") {
    throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
  }
}
