import type { AccountStore } from "../accounts/store.js";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import type { GroupReadState, MemberOf } from "../conversations/group/history.js";
import { ErrorReason, notFound } from "../errors/domain-error.js";
import type { GroupType } from "../gen/im/v1/group_pb.js";
import type { Logger } from "../log/logger.js";
import type { GroupChangeEvent } from "../webhooks/index.js";
import { actorOf } from "./actor.js";
import type { GroupConfig } from "./config.js";
import { assertGroupId } from "./group-id.js";
import type { Actor, GroupTypeTraits } from "./group-types.js";
import type { GroupNotifier } from "./notifier.js";
import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
  JoinApplicationStore,
} from "./store.js";

export interface GroupsDeps {
  groups: GroupStore;
  members: GroupMemberStore;
  applications: JoinApplicationStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  notifier: GroupNotifier;
  webhooks: { notifyGroupChange(event: GroupChangeEvent): void };
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  /** Deletes a disbanded group's stored messages (group messaging), so a new group may reuse the id. */
  deleteHistory?: (groupId: string) => Promise<void>;
  /**
   * A user's unread counts (as MarkGroupRead answers them) and whether an unread
   * message @-mentions them or everyone, in many groups (group messaging).
   */
  readStatesOf: (userId: string, of: readonly MemberOf[]) => Promise<GroupReadState[]>;
  /** Generates a group id for a type; injected so tests can force collisions. */
  newGroupId: (type: GroupType) => string;
}

/** A group loaded for one caller: the record, the caller's membership and actor. */
export interface Loaded {
  group: GroupRecord;
  traits: GroupTypeTraits;
  member: GroupMemberRecord | undefined;
  actor: Actor;
}

/** Helpers every operation shares. */
export function createContext(deps: GroupsDeps) {
  const { groups, members, config } = deps;
  return {
    deps,
    traitsOf: (group: GroupRecord) => config.traits[group.type],

    /** The group and the caller's standing in it; GROUP_NOT_FOUND when missing. */
    async load(caller: Caller, groupId: string): Promise<Loaded> {
      assertGroupId(groupId);
      const [group, member] = await Promise.all([
        groups.selectGroup(groupId),
        members.selectMember(groupId, caller.userId),
      ]);
      if (group === undefined) {
        throw notFound(ErrorReason.GROUP_NOT_FOUND, "the group does not exist", {
          field: "group_id",
        });
      }
      return { group, traits: config.traits[group.type], member, actor: actorOf(caller, member) };
    },

    /** Throws GROUP_USER_NOT_FOUND naming the first of `userIds` without an account. */
    async requireAccounts(userIds: readonly string[], field: string): Promise<void> {
      if (userIds.length === 0) return;
      const existing = await deps.accounts.selectExistingUserIds(userIds);
      const i = userIds.findIndex((id) => !existing.has(id));
      if (i !== -1) {
        const at = field === "owner_user_id" ? field : `${field}[${i}]`;
        throw notFound(ErrorReason.GROUP_USER_NOT_FOUND, `${at}: no such account`, { field: at });
      }
    },

    /** Running mutes (end > now) of the given users. */
    async runningMutes(groupId: string, userIds: readonly string[]): Promise<Map<string, number>> {
      const now = deps.clock();
      const all = await members.selectMutes(groupId, userIds);
      for (const [id, until] of all) if (until <= now) all.delete(id);
      return all;
    },
  };
}

export type GroupContext = ReturnType<typeof createContext>;
