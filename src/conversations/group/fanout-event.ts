import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type GroupFanoutEvent,
  GroupFanoutEventSchema,
} from "../../gen/im/internal/v1/fanout_pb.js";
import type { GroupMessageRecord } from "./store.js";

/** The bus payload of a group message: the message plus its fan-out flags. */
export const encodeGroupFanoutEvent = (
  r: Pick<GroupMessageRecord, "message" | "skipAfterSendWebhook" | "skipSyncToSender">,
  liveSent: boolean,
): Uint8Array =>
  toBinary(
    GroupFanoutEventSchema,
    create(GroupFanoutEventSchema, {
      message: r.message,
      skipAfterSendWebhook: r.skipAfterSendWebhook,
      skipSyncToSender: r.skipSyncToSender,
      liveSent,
    }),
  );

export const decodeGroupFanoutEvent = (data: Uint8Array): GroupFanoutEvent =>
  fromBinary(GroupFanoutEventSchema, data);
