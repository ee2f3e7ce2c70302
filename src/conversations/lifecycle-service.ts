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
import type { Editor } from "./edit.js";
import type { Recaller } from "./recall.js";

/** MessageLifecycleService over Connect: proto in, the kind's recall or edit, proto out. */
export function createMessageLifecycleService(kinds: {
  c2c: Recaller & Editor;
  group: Recaller & Editor;
}): ServiceImpl<typeof MessageLifecycleService> {
  /** The kind and message a request addresses, checked. */
  const target = (req: {
    conversationType: ConversationType;
    conversationId: string;
    seq: bigint;
  }) => {
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
    return { kind: type === ConversationType.GROUP ? kinds.group : kinds.c2c, seq };
  };
  return {
    async editMessage(req, ctx) {
      const caller = requireCaller(ctx);
      const { kind, seq } = target(req);
      return kind.edit(caller, req.conversationId, seq, {
        body: req.body,
        cloudCustomData: req.cloudCustomData,
      });
    },
    async recallMessage(req, ctx) {
      const caller = requireCaller(ctx);
      const { kind, seq } = target(req);
      const { recall, alreadyRecalled } = await kind.recall(caller, req.conversationId, seq);
      return { recall, alreadyRecalled };
    },
  };
}
