import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type C2cFanoutEvent, C2cFanoutEventSchema } from "../../gen/im/internal/v1/fanout_pb.js";
import type { MessageRecord } from "./store.js";

/** The bus payload for a stored message: the message plus its fan-out flags. */
export const encodeFanoutEvent = (r: MessageRecord, liveSent: boolean): Uint8Array =>
  toBinary(
    C2cFanoutEventSchema,
    create(C2cFanoutEventSchema, {
      message: r.message,
      skipAfterSendWebhook: r.skipAfterSendWebhook,
      skipSyncToSender: r.skipSyncToSender,
      liveSent,
    }),
  );

export const decodeFanoutEvent = (data: Uint8Array): C2cFanoutEvent =>
  fromBinary(C2cFanoutEventSchema, data);
