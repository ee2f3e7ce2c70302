import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import {
  type Friend,
  type FriendListSchema,
  type FriendRequest,
  FriendRequestChange,
  FriendRequestSchema,
  FriendSchema,
  RelationDirection,
} from "../gen/im/v1/relation_pb.js";
import type { CustomValue } from "../profiles/custom-fields.js";
import { customValueToProto } from "../profiles/profile-proto.js";
import type { Direction, FriendRecord, FriendRequestRecord } from "./store.js";

/** List id -> name of one owner's friend lists; ids not in it belong to deleted lists. */
export type ListNames = ReadonlyMap<string, string>;

const namesOf = (listIds: readonly string[], names: ListNames) =>
  listIds.map((id) => names.get(id)).filter((n): n is string => n !== undefined);

const customToProto = (custom: Record<string, CustomValue>) =>
  Object.fromEntries(Object.entries(custom).map(([k, v]) => [k, customValueToProto(v)]));

export const directionToProto = (d: Direction) =>
  d === "both" ? RelationDirection.BOTH : RelationDirection.SINGLE;

export const friendToProto = (f: FriendRecord, names: ListNames): Friend =>
  create(FriendSchema, {
    userId: f.friendId,
    remark: f.remark,
    source: f.source,
    wording: f.wording,
    friendLists: namesOf(f.listIds, names),
    addedAtMs: BigInt(f.addedAtMs),
    customFields: customToProto(f.custom),
  });

/**
 * A request as `viewerId` may see it: the requester's remark and lists are
 * private to the requester (`names` are the requester's list names).
 */
export function requestToProto(
  r: FriendRequestRecord,
  viewerId: string,
  names: ListNames,
): FriendRequest {
  const own = viewerId === r.fromUserId;
  return create(FriendRequestSchema, {
    fromUserId: r.fromUserId,
    toUserId: r.toUserId,
    direction: directionToProto(r.direction),
    wording: r.wording,
    source: r.source,
    remark: own ? r.remark : "",
    friendLists: own ? namesOf(r.listIds, names) : [],
    createdAtMs: BigInt(r.createdAtMs),
  });
}

const event = (
  value: MessageInitShape<typeof SubscribeResponseSchema>["event"],
): SubscribeResponse => create(SubscribeResponseSchema, { event: value });

export const friendRequestEvent = (change: FriendRequestChange, request: FriendRequest) =>
  event({ case: "friendRequestChanged", value: { change, request } });

export const friendsChangedEvent = (upserted: Friend[], deletedUserIds: string[]) =>
  event({ case: "friendsChanged", value: { upserted, deletedUserIds } });

export const friendListsEvent = (
  upserted: MessageInitShape<typeof FriendListSchema>[],
  deletedNames: string[],
  renamedFrom = "",
) => event({ case: "friendListsChanged", value: { upserted, deletedNames, renamedFrom } });

export const blocklistEvent = (addedUserIds: string[], removedUserIds: string[]) =>
  event({ case: "blocklistChanged", value: { addedUserIds, removedUserIds } });

export { FriendRequestChange };
