import { create } from "@bufbuild/protobuf";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import { type GroupMessage, MessageReceiveOption } from "../gen/im/v1/group_pb.js";
import type { GroupMemberStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";

export interface GroupDeliveryDeps {
  members: Pick<GroupMemberStore, "selectMembersPage">;
  live: Pick<LiveHub, "publishToUsers" | "publishToRoom">;
  /** Members read per store round trip. */
  batchSize: number;
}

export const groupMessageEvent = (message: GroupMessage): SubscribeResponse =>
  create(SubscribeResponseSchema, { event: { case: "groupMessage", value: message } });

/** Live delivery of group messages to members' streams on any node. */
export function createGroupDelivery(deps: GroupDeliveryDeps) {
  const { members, live, batchSize } = deps;
  return {
    /**
     * To every member (but `exceptUserId`) who has not chosen to discard the
     * group's messages. The member list is read in batches, never whole, and
     * each batch is published with the event encoded once.
     */
    async toMembers(message: GroupMessage, exceptUserId?: string): Promise<number> {
      const event = groupMessageEvent(message);
      let after = "";
      let delivered = 0;
      for (;;) {
        const batch = await members.selectMembersPage(message.groupId, after, batchSize);
        const to = batch.flatMap((m) =>
          m.userId === exceptUserId || m.receiveOption === MessageReceiveOption.DISCARD
            ? []
            : [m.userId],
        );
        live.publishToUsers(to, event);
        delivered += to.length;
        const last = batch.at(-1);
        if (last === undefined || batch.length < batchSize) return delivered;
        after = last.userId;
      }
    },
    /** A chat room: one publish on the room's subject reaches every member's stream. */
    toRoom(message: GroupMessage): void {
      live.publishToRoom(message.groupId, groupMessageEvent(message));
    },
  };
}

export type GroupDelivery = ReturnType<typeof createGroupDelivery>;
