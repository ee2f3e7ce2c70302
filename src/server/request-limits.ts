import type { DescMethod } from "@bufbuild/protobuf";
import type { TransportLimits } from "../config/transport-limits.js";

/**
 * RPCs whose request is a batch (up to ACCOUNT_/PROFILE_/RELATION_BATCH_MAX
 * users with their fields, a group's initial members, up to PRESENCE_QUERY_MAX /
 * PRESENCE_SUBSCRIPTIONS_MAX / BROADCAST_USERS_PER_REQUEST_MAX user ids, up to RECEIPT_ACK_MAX
 * acks): they get the batch
 * limit, every other RPC the ordinary one.
 */
const BATCH_RPCS = new Set([
  "im.v1.AccountService.ImportAccounts",
  "im.v1.AccountService.DeleteAccounts",
  "im.v1.AccountService.CheckAccounts",
  "im.v1.ProfileService.ImportProfiles",
  "im.v1.ProfileService.GetProfiles",
  "im.v1.RelationService.ImportFriends",
  "im.v1.RelationService.DeleteFriends",
  "im.v1.RelationService.GetFriends",
  "im.v1.RelationService.CheckFriends",
  "im.v1.RelationService.AddToFriendList",
  "im.v1.RelationService.RemoveFromFriendList",
  "im.v1.RelationService.AddToBlocklist",
  "im.v1.RelationService.RemoveFromBlocklist",
  "im.v1.RelationService.CheckBlocklist",
  "im.v1.GroupService.CreateGroup",
  "im.v1.GroupService.AddGroupMembers",
  "im.v1.GroupService.RemoveGroupMembers",
  "im.v1.GroupService.GetGroupMembers",
  "im.v1.GroupService.MuteGroupMembers",
  "im.v1.PresenceService.GetUserStatus",
  "im.v1.PresenceService.SubscribeUserStatus",
  "im.v1.PresenceService.UnsubscribeUserStatus",
  "im.v1.BroadcastService.AddUserTags",
  "im.v1.BroadcastService.RemoveUserTags",
  "im.v1.BroadcastService.SetUserAttributes",
  "im.v1.BroadcastService.RemoveUserAttributes",
  "im.v1.BroadcastService.GetUserLabels",
  "im.v1.ReceiptService.AckDelivered",
]);

/** The most bytes a request of `method` may have, compressed or decompressed. */
export function requestMaxBytesOf(
  method: DescMethod,
  limits: Pick<TransportLimits, "requestMaxBytes" | "batchRequestMaxBytes">,
): number {
  return BATCH_RPCS.has(`${method.parent.typeName}.${method.name}`)
    ? limits.batchRequestMaxBytes
    : limits.requestMaxBytes;
}
