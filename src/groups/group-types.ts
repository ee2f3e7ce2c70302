/**
 * The group type table: every per-type default and the type x operation x role
 * permission matrix, as data. Nothing else in src/groups branches on the group
 * type; it asks this table (through `permissions.ts` and `GroupTypeTraits`).
 *
 * Source: reference/chat-product-documentation.txt, "Group System" (Group Member
 * Roles, Group Types, Differences in ...), "Group Management" and "Group
 * Features". Where the reference contradicts itself the choice is noted inline.
 */
import { ApplyJoinOption, GroupType, MessageReceiveOption } from "../gen/im/v1/group_pb.js";

/** Who is acting, relative to one group. */
export type Actor = "appAdmin" | "owner" | "admin" | "member" | "nonMember";
export const ACTORS: readonly Actor[] = ["appAdmin", "owner", "admin", "member", "nonMember"];

/** Operations whose permission depends on type and role. */
export type Operation =
  /** Read the full profile (notification, seqs, member-level custom fields). */
  | "viewProfile"
  /** Read the public part of the profile (search by exact id). */
  | "viewPublicProfile"
  /** Change name, introduction, notification, face URL. */
  | "modifyBasicProfile"
  /** Change mute-all (and other non-basic profile fields). */
  | "modifyAdvancedProfile"
  /** Change the apply-join option. */
  | "modifyApplyJoinOption"
  /** List members and read other members' profiles. */
  | "listMembers"
  /** Invite or add non-members; they join without confirming. */
  | "invite"
  /** Apply to join (approval depends on the group's apply-join option). */
  | "apply"
  /** List, approve and reject pending join applications. */
  | "handleApplications"
  /** Leave the group. */
  | "quit"
  /** Remove an ordinary member. */
  | "removeMember"
  /** Remove an admin. */
  | "removeAdmin"
  /** Appoint or dismiss admins. */
  | "setAdmin"
  /** Make another member the owner. */
  | "transferOwner"
  /** Mute or unmute an ordinary member (or a non-member, to hold on rejoin). */
  | "muteMember"
  /** Mute or unmute an admin. */
  | "muteAdmin"
  /** Change another ordinary member's name card and member custom fields. */
  | "modifyMemberProfile"
  /** Change one's own member profile (name card, receive option, custom fields). */
  | "modifyOwnMemberProfile"
  /** Send an ordinary message (mute and mute-all are checked separately). */
  | "sendMessage"
  /** Recall another member's message (one's own: the sender, within the recall window). */
  | "recallOthersMessage"
  /** Read stored history (and sync). */
  | "readHistory"
  /** Disband the group. */
  | "disband";

export const OPERATIONS: readonly Operation[] = [
  "viewProfile",
  "viewPublicProfile",
  "modifyBasicProfile",
  "modifyAdvancedProfile",
  "modifyApplyJoinOption",
  "listMembers",
  "invite",
  "apply",
  "handleApplications",
  "quit",
  "removeMember",
  "removeAdmin",
  "setAdmin",
  "transferOwner",
  "muteMember",
  "muteAdmin",
  "modifyMemberProfile",
  "modifyOwnMemberProfile",
  "sendMessage",
  "recallOthersMessage",
  "readHistory",
  "disband",
];

/** Whether a kind of change is announced to members, and stored as a message (taking a seq). */
export type TipPolicy = "off" | "notify" | "store";
export const TIP_POLICIES: readonly TipPolicy[] = ["off", "notify", "store"];

/** The per-type defaults (each overridable in config where it is a setting). */
export interface GroupTypeTraits {
  /** Env name fragment: GROUP_<KEY>_... */
  key: "WORK" | "PUBLIC" | "MEETING" | "AVCHATROOM" | "COMMUNITY";
  /** Whether the Admin role exists. */
  hasAdmins: boolean;
  /** Whether members are stored with profiles and can be listed. AVChatRoom: no. */
  memberList: boolean;
  /** Apply-join option of a new group when the creator gives none. */
  defaultApplyJoinOption: ApplyJoinOption;
  /** Whether invitees must confirm. No built-in type requires it. */
  inviteNeedsConfirmation: boolean;
  /** Whether stored history exists (and seqs are assigned). */
  storesHistory: boolean;
  /** Whether members see messages from before they joined (setting). */
  preJoinHistory: boolean;
  /** Join, quit, kick notifications (setting). */
  memberChangeTips: TipPolicy;
  /** Name, introduction, notification, face URL, owner change notifications (setting). */
  profileChangeTips: TipPolicy;
  /** Mute-all and apply-join option change notifications (setting). */
  groupMuteTips: TipPolicy;
  /** Member mute and admin change notifications (setting). */
  memberProfileChangeTips: TipPolicy;
  /** A new group is invisible to members but the owner until its first message. */
  needsActivation: boolean;
  /** Whether muting members and mute-all are supported. */
  mutingSupported: boolean;
  /** Whether per-member read seq and unread counts are kept. */
  unreadCounts: boolean;
  /**
   * Whether senders may ask for read receipts (setting). Only types with
   * per-member read state (unreadCounts) can give them.
   */
  readReceipts: boolean;
  /** Receive option of a new member. */
  defaultReceiveOption: MessageReceiveOption;
  /** Member limit (setting); 0 is unlimited. */
  memberLimit: number;
}

const A = {
  appAdmin: "appAdmin",
  owner: "owner",
  admin: "admin",
  member: "member",
  nonMember: "nonMember",
} as const satisfies Record<Actor, Actor>;

// Shorthands for the rows below.
const OWNERS = [A.appAdmin, A.owner] as const;
const MANAGERS = [A.appAdmin, A.owner, A.admin] as const;
const MEMBERS = [A.appAdmin, A.owner, A.admin, A.member] as const;
const IN_GROUP = [A.owner, A.admin, A.member] as const;
const NOBODY = [] as const;

export type PermissionRow = Readonly<Record<Operation, readonly Actor[]>>;

/**
 * Who may do what, per type. A role that does not exist in a type (Admin in
 * Work) simply never matches. App admin may do whatever the owner may, except
 * leave a group it is not in, and may disband a Work group, which its owner
 * may not ("Who can disband a group: Work - App admin").
 */
export const PERMISSIONS: Readonly<Record<GroupType, PermissionRow>> = {
  [GroupType.UNSPECIFIED]: rowOf(() => NOBODY),
  [GroupType.WORK]: {
    viewProfile: MEMBERS,
    // Work groups cannot be found by id: non-members see nothing.
    viewPublicProfile: NOBODY,
    // "Ordinary members of Work can modify only the group name, introduction,
    // announcement, and group profile photo URL".
    modifyBasicProfile: MEMBERS,
    modifyAdvancedProfile: OWNERS,
    // Work groups do not take applications: the option stays DisableApply.
    modifyApplyJoinOption: NOBODY,
    listMembers: MEMBERS,
    invite: MEMBERS,
    apply: NOBODY,
    handleApplications: NOBODY,
    // The owner may quit a Work group, which then has no owner.
    quit: IN_GROUP,
    removeMember: OWNERS,
    removeAdmin: NOBODY,
    setAdmin: NOBODY,
    transferOwner: OWNERS,
    muteMember: NOBODY,
    muteAdmin: NOBODY,
    modifyMemberProfile: OWNERS,
    modifyOwnMemberProfile: IN_GROUP,
    sendMessage: MEMBERS,
    recallOthersMessage: OWNERS,
    readHistory: MEMBERS,
    disband: [A.appAdmin],
  },
  [GroupType.PUBLIC]: {
    viewProfile: MEMBERS,
    viewPublicProfile: [A.nonMember],
    modifyBasicProfile: MANAGERS,
    modifyAdvancedProfile: MANAGERS,
    modifyApplyJoinOption: MANAGERS,
    listMembers: MEMBERS,
    // "For a public group or meeting group, only the app admin can invite".
    invite: [A.appAdmin],
    apply: [A.nonMember],
    handleApplications: MANAGERS,
    quit: [A.admin, A.member],
    removeMember: MANAGERS,
    removeAdmin: OWNERS,
    setAdmin: OWNERS,
    transferOwner: OWNERS,
    muteMember: MANAGERS,
    muteAdmin: OWNERS,
    modifyMemberProfile: MANAGERS,
    modifyOwnMemberProfile: IN_GROUP,
    sendMessage: MEMBERS,
    recallOthersMessage: MANAGERS,
    readHistory: MEMBERS,
    disband: OWNERS,
  },
  [GroupType.MEETING]: {
    viewProfile: MEMBERS,
    viewPublicProfile: [A.nonMember],
    modifyBasicProfile: OWNERS,
    modifyAdvancedProfile: OWNERS,
    modifyApplyJoinOption: OWNERS,
    listMembers: MEMBERS,
    invite: [A.appAdmin],
    apply: [A.nonMember],
    handleApplications: MANAGERS,
    quit: [A.admin, A.member],
    removeMember: MANAGERS,
    removeAdmin: OWNERS,
    setAdmin: OWNERS,
    transferOwner: OWNERS,
    muteMember: MANAGERS,
    muteAdmin: OWNERS,
    modifyMemberProfile: MANAGERS,
    modifyOwnMemberProfile: IN_GROUP,
    sendMessage: MEMBERS,
    recallOthersMessage: MANAGERS,
    readHistory: MEMBERS,
    disband: OWNERS,
  },
  [GroupType.AV_CHAT_ROOM]: {
    viewProfile: MEMBERS,
    viewPublicProfile: [A.nonMember],
    modifyBasicProfile: OWNERS,
    modifyAdvancedProfile: OWNERS,
    modifyApplyJoinOption: OWNERS,
    // No member list is kept.
    listMembers: NOBODY,
    // "For an audio-video group, no member is allowed to invite any user".
    invite: NOBODY,
    apply: [A.nonMember],
    handleApplications: OWNERS,
    quit: [A.member],
    // "Not supported. The muting feature can be used to achieve a similar effect."
    removeMember: NOBODY,
    removeAdmin: NOBODY,
    // The feature table says "Setting admins: Not supported" and the roles row
    // lists only owner and app admin; one other table says supported. We follow
    // the two that agree.
    setAdmin: NOBODY,
    transferOwner: OWNERS,
    // "The group owner can mute group members."
    muteMember: OWNERS,
    muteAdmin: NOBODY,
    modifyMemberProfile: NOBODY,
    // No member profiles are stored.
    modifyOwnMemberProfile: NOBODY,
    sendMessage: MEMBERS,
    // AVChatRoom keeps no history: nothing to recall.
    recallOthersMessage: NOBODY,
    readHistory: NOBODY,
    disband: OWNERS,
  },
  [GroupType.COMMUNITY]: {
    viewProfile: MEMBERS,
    viewPublicProfile: [A.nonMember],
    modifyBasicProfile: MANAGERS,
    modifyAdvancedProfile: MANAGERS,
    // "For a community group, the group joining application method cannot be
    // modified" by members; the management page lets the app control it, so
    // only the app admin may.
    modifyApplyJoinOption: [A.appAdmin],
    listMembers: MEMBERS,
    invite: MEMBERS,
    apply: [A.nonMember],
    handleApplications: MANAGERS,
    quit: [A.admin, A.member],
    removeMember: MANAGERS,
    removeAdmin: OWNERS,
    setAdmin: OWNERS,
    transferOwner: OWNERS,
    muteMember: MANAGERS,
    muteAdmin: OWNERS,
    modifyMemberProfile: MANAGERS,
    modifyOwnMemberProfile: IN_GROUP,
    sendMessage: MEMBERS,
    recallOthersMessage: MANAGERS,
    readHistory: MEMBERS,
    disband: OWNERS,
  },
};

/** The reference's defaults per type. Config may override the settings marked so. */
export const TYPE_TRAITS: Readonly<Record<GroupType, GroupTypeTraits>> = {
  [GroupType.UNSPECIFIED]: traits({ key: "WORK" }),
  [GroupType.WORK]: traits({
    key: "WORK",
    hasAdmins: false,
    defaultApplyJoinOption: ApplyJoinOption.DISABLE_APPLY,
    memberChangeTips: "store",
    profileChangeTips: "store",
    memberProfileChangeTips: "store",
    needsActivation: true,
    mutingSupported: false,
    unreadCounts: true,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
    memberLimit: 2000,
  }),
  [GroupType.PUBLIC]: traits({
    key: "PUBLIC",
    defaultApplyJoinOption: ApplyJoinOption.NEED_PERMISSION,
    memberChangeTips: "store",
    profileChangeTips: "store",
    memberProfileChangeTips: "store",
    unreadCounts: true,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
    memberLimit: 2000,
  }),
  [GroupType.MEETING]: traits({
    key: "MEETING",
    defaultApplyJoinOption: ApplyJoinOption.FREE_ACCESS,
    // The type description ("view historical messages sent before they join")
    // and the feature table say enabled; one capability table says disabled.
    preJoinHistory: true,
    memberChangeTips: "off",
    profileChangeTips: "store",
    memberProfileChangeTips: "off",
    unreadCounts: false,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_NOT_NOTIFY,
    memberLimit: 2000,
  }),
  [GroupType.AV_CHAT_ROOM]: traits({
    key: "AVCHATROOM",
    hasAdmins: false,
    memberList: false,
    defaultApplyJoinOption: ApplyJoinOption.FREE_ACCESS,
    storesHistory: false,
    memberChangeTips: "notify",
    profileChangeTips: "notify",
    memberProfileChangeTips: "off",
    unreadCounts: false,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_NOT_NOTIFY,
    memberLimit: 0,
  }),
  [GroupType.COMMUNITY]: traits({
    key: "COMMUNITY",
    defaultApplyJoinOption: ApplyJoinOption.FREE_ACCESS,
    preJoinHistory: true,
    memberChangeTips: "store",
    profileChangeTips: "store",
    memberProfileChangeTips: "store",
    unreadCounts: true,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
    memberLimit: 100_000,
  }),
};

/** The five real types, for iteration. */
export const GROUP_TYPES: readonly GroupType[] = [
  GroupType.WORK,
  GroupType.PUBLIC,
  GroupType.MEETING,
  GroupType.AV_CHAT_ROOM,
  GroupType.COMMUNITY,
];

/** True when `actor` may perform `op` in a group of `type`, per the matrix. */
export const isAllowed = (type: GroupType, op: Operation, actor: Actor): boolean =>
  PERMISSIONS[type][op].includes(actor);

function rowOf(f: (op: Operation) => readonly Actor[]): PermissionRow {
  return Object.fromEntries(OPERATIONS.map((op) => [op, f(op)])) as PermissionRow;
}

// The common case, so each type above lists only where it differs.
function traits(t: Partial<GroupTypeTraits> & Pick<GroupTypeTraits, "key">): GroupTypeTraits {
  return {
    hasAdmins: true,
    memberList: true,
    defaultApplyJoinOption: ApplyJoinOption.DISABLE_APPLY,
    inviteNeedsConfirmation: false,
    storesHistory: true,
    preJoinHistory: false,
    memberChangeTips: "off",
    profileChangeTips: "off",
    // "disabled by default when group muting or the group joining mode is changed".
    groupMuteTips: "off",
    memberProfileChangeTips: "off",
    needsActivation: false,
    mutingSupported: true,
    unreadCounts: false,
    readReceipts: t.unreadCounts ?? false,
    defaultReceiveOption: MessageReceiveOption.ACCEPT_AND_NOTIFY,
    memberLimit: 0,
    ...t,
  };
}
