import { toBinary } from "@bufbuild/protobuf";
import type { Bus } from "../bus/index.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { GroupLive } from "./notifier.js";

/** Live group traffic: per-user subjects through the hub, AVChatRoom traffic on the room's subject. */
export function createGroupLive(
  live: Pick<LiveHub, "publishToUser">,
  bus: Pick<Bus, "publishLive" | "registry">,
): GroupLive {
  return {
    publishToUser: (userId, event) => live.publishToUser(userId, event),
    publishToRoom: (groupId, event) =>
      bus.publishLive(
        bus.registry.liveRoomSubject(groupId),
        toBinary(SubscribeResponseSchema, event),
      ),
  };
}
