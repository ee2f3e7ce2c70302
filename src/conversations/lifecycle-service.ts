import type { ServiceImpl } from "@connectrpc/connect";
import { requireCaller } from "../auth/caller.js";
import { enumFromRequest } from "../common/proto-enum.js";
import { seqFromRequest } from "../common/proto-numbers.js";
import { invalidField } from "../errors/domain-error.js";
import {
  ConversationType,
  ConversationTypeSchema,
  type MessageLifecycleService,
} from "../gen/im/v1/lifecycle_pb.js";
import type { Recaller } from "./recall.js";

/** MessageLifecycleService over Connect: proto in, the kind's recaller, proto out. */
export function createMessageLifecycleService(recallers: {
  c2c: Recaller;
  group: Recaller;
}): ServiceImpl<typeof MessageLifecycleService> {
  return {
    async recallMessage(req, ctx) {
      const caller = requireCaller(ctx);
      const type = enumFromRequest(
        ConversationTypeSchema,
        req.conversationType,
        "conversation_type",
        {
          required: true,
        },
      );
      if (req.conversationId === "") throw invalidField("conversation_id", "required");
      const seq = seqFromRequest(req.seq, "seq");
      if (seq === 0) throw invalidField("seq", "required");
      const recaller = type === ConversationType.GROUP ? recallers.group : recallers.c2c;
      const { recall, alreadyRecalled } = await recaller.recall(caller, req.conversationId, seq);
      return { recall, alreadyRecalled };
    },
  };
}
