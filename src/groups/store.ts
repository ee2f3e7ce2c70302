import type {
  ApplyJoinOption,
  GroupRole,
  GroupType,
  MessageReceiveOption,
} from "../gen/im/v1/group_pb.js";

/** Custom field values by key. */
export type FieldValues = Record<string, Uint8Array>;
/** Custom field changes by key: a value sets it, null deletes it. */
export type FieldChanges = Record<string, Uint8Array | null>;

/** A group as stored. */
export interface GroupRecord {
  groupId: string;
  type: GroupType;
  name: string;
  introduction: string;
  notification: string;
  faceUrl: string;
  /** Empty when the group has no owner. */
  ownerUserId: string;
  createdAtMs: number;
  /** Grows by one on every profile or owner change. */
  infoSeq: number;
  lastInfoTimeMs: number;
  /** 0 when no message was stored yet. */
  lastMessageTimeMs: number;
  /** Highest seq handed out; the next stored message takes lastSeq + 1. */
  lastSeq: number;
  /** Members counted through reserve/release (0 for types without a member list). */
  memberCount: number;
  /** 0: unlimited. */
  maxMemberCount: number;
  applyJoinOption: ApplyJoinOption;
  muteAll: boolean;
  customFields: FieldValues;
  /** False until the first message for types that need activation. */
  active: boolean;
}

export interface GroupProfilePatch {
  name?: string;
  introduction?: string;
  notification?: string;
  faceUrl?: string;
  applyJoinOption?: ApplyJoinOption;
  muteAll?: boolean;
  customFields?: FieldChanges;
}

/** Storage port for group documents and their counters. */
export interface GroupStore {
  /** Inserts a new group; resolves false (storing nothing) when the id is taken. */
  insertGroup(group: GroupRecord): Promise<boolean>;
  /** The group, or undefined when it does not exist. */
  selectGroup(groupId: string): Promise<GroupRecord | undefined>;
  /** The groups that exist among `groupIds`, in no particular order. */
  selectGroups(groupIds: readonly string[]): Promise<GroupRecord[]>;
  /**
   * Applies the patch (only the keys present), adds one to infoSeq and sets
   * lastInfoTimeMs. Returns the updated group, or undefined when it does not exist.
   */
  updateGroupProfile(
    groupId: string,
    patch: GroupProfilePatch,
    nowMs: number,
  ): Promise<GroupRecord | undefined>;
  /** Sets the owner ("" for none), bumping infoSeq; false when the group does not exist. */
  updateGroupOwner(groupId: string, ownerUserId: string, nowMs: number): Promise<boolean>;
  /**
   * Atomically adds `n` to memberCount if the result stays <= `max` (0: no limit).
   * False when it would exceed the limit or the group does not exist.
   */
  reserveMemberSlots(groupId: string, n: number, max: number): Promise<boolean>;
  /** Subtracts `n` from memberCount (members left, or reserved slots went unused). */
  releaseMemberSlots(groupId: string, n: number): Promise<void>;
  /**
   * Hands out the next `n` seqs and marks the group active with lastMessageTimeMs
   * = nowMs. Returns the last seq handed out (the first is that minus n - 1), or
   * undefined when the group does not exist. Seqs are never handed out twice.
   */
  allocateGroupSeqs(groupId: string, n: number, nowMs: number): Promise<number | undefined>;
  /** Deletes the group document; false when it did not exist. */
  deleteGroup(groupId: string): Promise<boolean>;
}

/** A membership as stored. */
export interface GroupMemberRecord {
  groupId: string;
  userId: string;
  role: GroupRole;
  joinedAtMs: number;
  /** The group's lastSeq when the member joined: without pre-join history they see seqs above it. */
  joinSeq: number;
  readSeq: number;
  receiveOption: MessageReceiveOption;
  /** 0 when the member has not sent yet. */
  lastSendTimeMs: number;
  nameCard: string;
  customFields: FieldValues;
}

export interface GroupMemberPatch {
  nameCard?: string;
  receiveOption?: MessageReceiveOption;
  customFields?: FieldChanges;
}

/** Storage port for memberships and mutes. Reads of a group's members are paged, never whole. */
export interface GroupMemberStore {
  /**
   * Inserts memberships (all of one group) for users who are not members yet;
   * returns the user ids inserted, in input order. Existing members are left unchanged.
   */
  insertMembers(members: readonly GroupMemberRecord[]): Promise<string[]>;
  /** The membership, or undefined when the user is not a member. */
  selectMember(groupId: string, userId: string): Promise<GroupMemberRecord | undefined>;
  /** Memberships of the given users that exist, in no particular order. */
  selectMembers(groupId: string, userIds: readonly string[]): Promise<GroupMemberRecord[]>;
  /**
   * Members with userId strictly greater than `afterUserId` ("" for the start), in
   * ascending userId order, at most `limit`. An empty result means the end.
   */
  selectMembersPage(
    groupId: string,
    afterUserId: string,
    limit: number,
  ): Promise<GroupMemberRecord[]>;
  /** Members holding one of `roles` (owner and admins: a small set). */
  selectMembersByRole(groupId: string, roles: readonly GroupRole[]): Promise<GroupMemberRecord[]>;
  /**
   * A user's memberships with groupId strictly greater than `afterGroupId`, in
   * ascending groupId order, at most `limit`; only those with one of `roles` when given.
   */
  selectMembershipsOfUser(
    userId: string,
    afterGroupId: string,
    limit: number,
    roles?: readonly GroupRole[],
  ): Promise<GroupMemberRecord[]>;
  /** Deletes memberships; returns the user ids that were members, in input order. */
  deleteMembers(groupId: string, userIds: readonly string[]): Promise<string[]>;
  /** Deletes every membership of the group (disband). */
  deleteAllMembers(groupId: string): Promise<void>;
  /** Sets the role; false when the user is not a member. */
  updateMemberRole(groupId: string, userId: string, role: GroupRole): Promise<boolean>;
  /** Applies the patch; returns the member after it, or undefined when not a member. */
  updateMemberProfile(
    groupId: string,
    userId: string,
    patch: GroupMemberPatch,
  ): Promise<GroupMemberRecord | undefined>;
  /**
   * Raises readSeq to `seq` (never lowers it). Returns the stored readSeq
   * before and after, or undefined when the user is not a member.
   */
  updateMemberReadSeq(
    groupId: string,
    userId: string,
    seq: number,
  ): Promise<{ before: number; after: number } | undefined>;
  /** Records the time of the member's last message; no-op for a non-member. */
  updateMemberLastSend(groupId: string, userId: string, atMs: number): Promise<void>;
  /**
   * Mutes users until `untilMs` (0 removes the mute). Mutes are kept apart from
   * memberships so they hold across leaving and rejoining.
   */
  upsertMutes(groupId: string, userIds: readonly string[], untilMs: number): Promise<void>;
  /** Mute end times (ms) of the given users that have a mute, expired or not. */
  selectMutes(groupId: string, userIds: readonly string[]): Promise<Map<string, number>>;
  /** Deletes every mute of the group (disband). */
  deleteGroupMutes(groupId: string): Promise<void>;
}

/** A pending join application. */
export interface JoinApplicationRecord {
  groupId: string;
  applicantUserId: string;
  message: string;
  appliedAtMs: number;
}

/** Storage port for pending join applications. */
export interface JoinApplicationStore {
  /**
   * Stores the application, or renews (message, time) an existing one of the
   * same applicant to the same group. Resolves "created" or "renewed".
   */
  upsertJoinApplication(application: JoinApplicationRecord): Promise<"created" | "renewed">;
  /** Pending applications made by the user. */
  countJoinApplicationsOf(applicantUserId: string): Promise<number>;
  /**
   * Removes and returns the application, or undefined when there is none (so of
   * two concurrent handlers exactly one gets it).
   */
  takeJoinApplication(
    groupId: string,
    applicantUserId: string,
  ): Promise<JoinApplicationRecord | undefined>;
  /** Pending applications to any of `groupIds`, newest first, at most `limit`. */
  selectJoinApplications(
    groupIds: readonly string[],
    limit: number,
  ): Promise<JoinApplicationRecord[]>;
  /** Deletes every application to the group (disband). */
  deleteGroupJoinApplications(groupId: string): Promise<void>;
}
