import type { ServiceImpl } from "@connectrpc/connect";
import { requireCaller } from "../auth/caller.js";
import type { ReceiptService } from "../gen/im/v1/receipts_pb.js";
import type { C2cReceipts } from "./c2c-receipts.js";
import type { GroupReceipts } from "./group-receipts.js";

/** ReceiptService over Connect: proto in, domain call, proto out. */
export function createReceiptService(
  c2c: C2cReceipts,
  group: GroupReceipts,
): ServiceImpl<typeof ReceiptService> {
  return {
    async ackDelivered(req, ctx) {
      await c2c.ack(requireCaller(ctx), req.acks);
      return {};
    },
    async getC2CReceipts(req, ctx) {
      const marks = await c2c.peerWatermarks(requireCaller(ctx), req.peerUserId);
      return {
        conversationId: marks.conversationId,
        peerDeliveredSeq: BigInt(marks.deliveredSeq),
        peerReadSeq: BigInt(marks.readSeq),
      };
    },
    async getGroupReceipts(req, ctx) {
      return { receipts: await group.receiptsOf(requireCaller(ctx), req.groupId, req.seqs) };
    },
    async listGroupReaders(req, ctx) {
      const { userIds, readCount, nextCursor } = await group.listReaders(requireCaller(ctx), req);
      return { userIds, readCount, page: { nextCursor } };
    },
  };
}
