import { create } from "@bufbuild/protobuf";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import { profileToProto } from "./profile-proto.js";
import type { FieldValue } from "./standard-fields.js";

/** The live event for a profile change: the changed fields only. */
export const profileChangedEvent = (
  userId: string,
  changed: ReadonlyMap<string, FieldValue>,
  atMs: number,
): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: {
      case: "profileChanged",
      value: { profile: profileToProto(userId, changed), updatedAtMs: BigInt(atMs) },
    },
  });
