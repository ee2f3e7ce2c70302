import { create } from "@bufbuild/protobuf";
import { UserAfterStateChangeEventSchema, UserStateAction } from "../gen/im/v1/webhook_pb.js";
import type { StateChangeEvent } from "../webhooks/index.js";
import type { StateChange } from "./presence.js";

const ACTIONS: Record<StateChange["action"], UserStateAction> = {
  login: UserStateAction.LOGIN,
  logout: UserStateAction.LOGOUT,
  disconnect: UserStateAction.DISCONNECT,
  kicked: UserStateAction.KICKED,
};

/** The state-change webhook's payload for a presence state change. */
export const stateChangeEvent = (c: StateChange): StateChangeEvent => ({
  case: "userAfterStateChange",
  value: create(UserAfterStateChangeEventSchema, {
    userAccount: c.userId,
    deviceId: c.deviceId,
    platform: c.platform,
    action: ACTIONS[c.action],
    reason: c.reason,
  }),
});
