import type { ServiceImpl } from "@connectrpc/connect";
import { requireCaller } from "../../auth/caller.js";
import { seqFromRequest } from "../../common/proto-numbers.js";
import type {
  MessageService,
  SendMessageRequest,
  SendMessageResponse,
} from "../../gen/im/v1/message_pb.js";
import type { ConversationPipeline } from "../pipeline.js";
import type { History } from "./history.js";

/** MessageService over Connect: proto in, domain call, proto out. */
export function createMessageService(
  pipeline: Pick<ConversationPipeline<SendMessageRequest, unknown, SendMessageResponse>, "send">,
  history: History,
): ServiceImpl<typeof MessageService> {
  return {
    sendMessage: (req, ctx) => pipeline.send(requireCaller(ctx), req, ctx.signal),
    async listConversations(req, ctx) {
      const { conversations, nextCursor } = await history.listConversations(
        requireCaller(ctx).userId,
        {
          pageSize: req.page?.pageSize ?? 0,
          cursor: req.page?.cursor ?? "",
        },
      );
      return { conversations, page: { nextCursor } };
    },
    syncMessages: (req, ctx) => history.syncMessages(requireCaller(ctx).userId, req),
    async listMessages(req, ctx) {
      const { messages, nextCursor } = await history.listMessages(requireCaller(ctx).userId, req);
      return { messages, page: { nextCursor } };
    },
    async markRead(req, ctx) {
      const { readSeq, unreadCount } = await history.markRead(
        requireCaller(ctx).userId,
        req.peerUserId,
        seqFromRequest(req.readSeq, "read_seq"),
      );
      return { readSeq: BigInt(readSeq), unreadCount };
    },
  };
}
