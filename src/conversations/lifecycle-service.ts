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
import { type Deleter, deletedForMeToProto } from "./delete.js";
import type { Editor } from "./edit.js";
import type { Recaller } from "./recall.js";

/** MessageLifecycleService over Connect: proto in, the kind's recall, edit or delete, proto out. */
export function createMessageLifecycleService(kinds: {
  c2c: Recaller & Editor & Deleter;
  group: Recaller & Editor & Deleter;
}): ServiceImpl<typeof MessageLifecycleService> {
  /** The kind a request addresses, checked. */
  const conversation = (req: { conversationType: ConversationType; conversationId: string }) => {
    const type = enumFromRequest(
      ConversationTypeSchema,
      req.conversationType,
      "conversation_type",
      {
        required: true,
      },
    );
    if (req.conversationId === "") throw invalidField("conversation_id", "required");
    return type === ConversationType.GROUP ? kinds.group : kinds.c2c;
  };
  /** The request's seqs, each a valid non-zero seq. */
  const seqsOf = (seqs: readonly bigint[]) =>
    seqs.map((s, i) => {
      const seq = seqFromRequest(s, `seqs[${i}]`);
      if (seq === 0) throw invalidField(`seqs[${i}]`, "must be at least 1");
      return seq;
    });
  /** The kind and message a request addresses, checked. */
  const target = (req: {
    conversationType: ConversationType;
    conversationId: string;
    seq: bigint;
  }) => {
    const kind = conversation(req);
    const seq = seqFromRequest(req.seq, "seq");
    if (seq === 0) throw invalidField("seq", "required");
    return { kind, seq };
  };
  return {
    async deleteMessages(req, ctx) {
      const caller = requireCaller(ctx);
      const kind = conversation(req);
      const { deleted, alreadyDeleted } = await kind.deleteForEveryone(
        caller,
        req.conversationId,
        seqsOf(req.seqs),
      );
      return {
        deletedSeqs: deleted.map(BigInt),
        alreadyDeletedSeqs: alreadyDeleted.map(BigInt),
      };
    },
    async deleteMessagesForMe(req, ctx) {
      const caller = requireCaller(ctx);
      const kind = conversation(req);
      const record = await kind.deleteForMe(caller, req.conversationId, seqsOf(req.seqs));
      return { deletedForMe: deletedForMeToProto(record) };
    },
    async clearConversation(req, ctx) {
      const caller = requireCaller(ctx);
      const kind = conversation(req);
      const upToSeq = seqFromRequest(req.upToSeq, "up_to_seq");
      const record = await kind.clearForMe(caller, req.conversationId, upToSeq);
      return { deletedForMe: deletedForMeToProto(record) };
    },
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
