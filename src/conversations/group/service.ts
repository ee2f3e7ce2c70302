import { requireCaller } from "../../auth/caller.js";
import { seqFromRequest } from "../../common/proto-numbers.js";
import type {
  SendGroupMessageRequest,
  SendGroupMessageResponse,
} from "../../gen/im/v1/group_pb.js";
import type { GroupMessagingHandlers } from "../../groups/service.js";
import type { ConversationPipeline } from "../pipeline.js";
import type { GroupHistory } from "./history.js";
import type { createSendGroupSystemMessage } from "./send-system-message.js";

/** The group message RPCs of GroupService: proto in, domain call, proto out. */
export function createGroupMessagingHandlers(
  pipeline: Pick<
    ConversationPipeline<SendGroupMessageRequest, unknown, SendGroupMessageResponse>,
    "send"
  >,
  sendSystem: ReturnType<typeof createSendGroupSystemMessage>,
  history: GroupHistory,
): GroupMessagingHandlers {
  return {
    sendGroupMessage: (req, ctx) => pipeline.send(requireCaller(ctx), req, ctx.signal),
    async sendGroupSystemMessage(req, ctx) {
      return { timeMs: await sendSystem(requireCaller(ctx), req) };
    },
    syncGroupMessages: (req, ctx) => history.syncMessages(requireCaller(ctx), req),
    async listGroupMessages(req, ctx) {
      const { messages, nextCursor } = await history.listMessages(requireCaller(ctx), req);
      return { messages, page: { nextCursor } };
    },
    async markGroupRead(req, ctx) {
      const { readSeq, unreadCount } = await history.markRead(
        requireCaller(ctx),
        req.groupId,
        seqFromRequest(req.readSeq, "read_seq"),
      );
      return { readSeq: BigInt(readSeq), unreadCount };
    },
  };
}
