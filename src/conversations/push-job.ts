import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type PushJob, PushJobSchema } from "../gen/im/internal/v1/push_pb.js";
import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import type { OfflinePushInfo } from "../gen/im/v1/message_pb.js";

/** What a stored message of any kind tells push. */
interface PushableMessage {
  messageKey: string;
  fromUserId: string;
  timeMs: bigint;
  body: MessageElement[];
  offlinePushInfo?: OfflinePushInfo | undefined;
  onlineOnly: boolean;
  seq: bigint;
}

type Init = MessageInitShape<typeof PushJobSchema>;

/**
 * A stored message's push work for `audience`; undefined when it pushes
 * nothing (online-only, unstored, or its OfflinePushInfo disables push).
 */
export function storedMessagePushJob(
  message: PushableMessage,
  audience: Init["audience"],
  mentions: Pick<Init, "atUserIds" | "atAll"> = {},
): PushJob | undefined {
  if (message.onlineOnly || message.seq === 0n || message.offlinePushInfo?.disabled) return;
  return create(PushJobSchema, {
    messageKey: message.messageKey,
    fromUserId: message.fromUserId,
    timeMs: message.timeMs,
    body: message.body,
    ...(message.offlinePushInfo === undefined ? {} : { offlinePushInfo: message.offlinePushInfo }),
    audience,
    ...mentions,
  });
}
