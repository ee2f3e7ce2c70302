import { create } from "@bufbuild/protobuf";
import {
  type Group,
  type GroupMember,
  GroupMemberSchema,
  GroupSchema,
} from "../gen/im/v1/group_pb.js";
import type { GroupConfig } from "./config.js";
import { readableFields } from "./custom-fields.js";
import type { Actor } from "./group-types.js";
import type { GroupMemberRecord, GroupRecord } from "./store.js";

/**
 * The profile as `actor` may see it: members (and app admins) everything they
 * may read; non-members the public part (no notification, seqs or times of activity).
 */
export function groupToProto(g: GroupRecord, actor: Actor, config: GroupConfig): Group {
  const full = actor !== "nonMember";
  return create(GroupSchema, {
    groupId: g.groupId,
    type: g.type,
    name: g.name,
    introduction: g.introduction,
    faceUrl: g.faceUrl,
    ownerUserId: g.ownerUserId,
    createdAtMs: BigInt(g.createdAtMs),
    memberCount: g.memberCount,
    maxMemberCount: g.maxMemberCount,
    applyJoinOption: g.applyJoinOption,
    muteAll: g.muteAll,
    customFields: readableFields(g.customFields, config.groupFields, actor),
    active: g.active,
    ...(full
      ? {
          notification: g.notification,
          infoSeq: BigInt(g.infoSeq),
          lastInfoTimeMs: BigInt(g.lastInfoTimeMs),
          lastMessageTimeMs: BigInt(g.lastMessageTimeMs),
          nextMessageSeq: BigInt(g.lastSeq + 1),
        }
      : {}),
  });
}

/**
 * A member as `reader` may see it; `self` readers count as at least "member" for
 * their own custom fields. `mutedUntilMs` is 0 unless the mute is still running.
 */
export function memberToProto(
  m: GroupMemberRecord,
  mutedUntilMs: number,
  reader: Actor,
  config: GroupConfig,
): GroupMember {
  return create(GroupMemberSchema, {
    userId: m.userId,
    role: m.role,
    joinedAtMs: BigInt(m.joinedAtMs),
    readSeq: BigInt(m.readSeq),
    receiveOption: m.receiveOption,
    lastSendTimeMs: BigInt(m.lastSendTimeMs),
    nameCard: m.nameCard,
    mutedUntilMs: BigInt(mutedUntilMs),
    customFields: readableFields(m.customFields, config.memberFields, reader),
  });
}
