import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { enumFromRequest } from "../common/proto-enum.js";
import { assertUserId } from "../common/user-id.js";
import type { C2CSendPolicy } from "../conversations/c2c/send-policy.js";
import { ErrorReason, invalidArgument } from "../errors/domain-error.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import { type TypingState, TypingStateSchema } from "../gen/im/v1/typing_pb.js";
import type { LiveHub } from "../live/live-hub.js";

export interface TypingDeps {
  live: Pick<LiveHub, "publishToUser">;
  /** The one-to-one send policy: a typing signal goes where a message may go. */
  policy: C2CSendPolicy;
  clock: Clock;
}

/**
 * A typing signal: checked like a one-to-one send's routing (no content, no
 * seq, no store), then one live publish to the peer's streams on every node.
 * Its per-sender limit is the rate-limit interceptor's (class `typing`).
 */
export function createSendTyping(deps: TypingDeps) {
  return async (caller: Caller, toUserId: string, state: TypingState): Promise<void> => {
    assertUserId(toUserId, "to_user_id");
    if (toUserId === caller.userId) {
      throw invalidArgument(ErrorReason.SELF_MESSAGE, "sender and recipient are the same user", {
        field: "to_user_id",
      });
    }
    const checked = enumFromRequest(TypingStateSchema, state, "state", { required: true });
    if (!caller.isAdmin && (await deps.policy(caller.userId, toUserId)) === "drop-silently") return;
    deps.live.publishToUser(
      toUserId,
      create(SubscribeResponseSchema, {
        event: {
          case: "typing",
          value: { fromUserId: caller.userId, state: checked, timeMs: BigInt(deps.clock()) },
        },
      }),
    );
  };
}
