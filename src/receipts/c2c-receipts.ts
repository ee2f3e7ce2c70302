import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import { assertBatch } from "../common/batch.js";
import { seqFromRequest } from "../common/proto-numbers.js";
import { assertUserId } from "../common/user-id.js";
import { c2cConversationId } from "../conversations/c2c/conversation-id.js";
import type { MessageStore } from "../conversations/c2c/store.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { DeliveredAck } from "../gen/im/v1/receipts_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { ReceiptStore } from "./store.js";

export interface C2cReceiptsDeps {
  store: Pick<ReceiptStore, "raiseDeliveredSeq" | "selectDeliveredSeq">;
  messages: Pick<MessageStore, "selectLastSeq" | "selectReadSeq">;
  live: Pick<LiveHub, "publishToUser">;
  /** Conversations per AckDelivered call. */
  ackMax: number;
}

/** A user's watermarks in a one-to-one conversation, as the peer sees them. */
export interface C2cWatermarks {
  conversationId: string;
  /** At least readSeq: what was read was delivered. */
  deliveredSeq: number;
  readSeq: number;
}

/** One-to-one receipts: what reads, syncs and ReceiptService do. */
export interface C2cReceipts {
  /** Raises `owner`'s delivered seq to `seq`; the peer hears of it when it rose. */
  delivered(owner: string, peer: string, conversationId: string, seq: number): Promise<void>;
  /** `owner` read up to `readSeq` (already stored): the peer hears of it. */
  read(owner: string, peer: string, conversationId: string, readSeq: number): Promise<void>;
  /** AckDelivered: each conversation's delivered seq, clamped to its latest seq. */
  ack(caller: Caller, acks: readonly DeliveredAck[]): Promise<void>;
  /** The peer's watermarks in the caller's conversation with them. */
  peerWatermarks(caller: Caller, peer: string): Promise<C2cWatermarks>;
}

/**
 * One-to-one delivered and read receipts: two watermarks per user and
 * conversation (delivered here, read in the conversation list), and an event
 * to the peer whenever one rises. Per-message state is seq <= watermark.
 */
export function createC2cReceipts(deps: C2cReceiptsDeps): C2cReceipts {
  const { store, messages, live } = deps;

  const tellPeer = (owner: string, peer: string, marks: C2cWatermarks): void => {
    live.publishToUser(
      peer,
      create(SubscribeResponseSchema, {
        event: {
          case: "c2cReceipt",
          value: {
            conversationId: marks.conversationId,
            peerUserId: owner,
            deliveredSeq: BigInt(marks.deliveredSeq),
            readSeq: BigInt(marks.readSeq),
          },
        },
      }),
    );
  };

  /** `owner`'s watermarks in the conversation. */
  const watermarksOf = async (owner: string, conversationId: string): Promise<C2cWatermarks> => {
    const [delivered, readSeq] = await Promise.all([
      store.selectDeliveredSeq(owner, conversationId),
      messages.selectReadSeq(owner, conversationId),
    ]);
    return { conversationId, deliveredSeq: Math.max(delivered, readSeq), readSeq };
  };

  /** Raises `owner`'s delivered seq; the peer hears of it when it rose. */
  const delivered = async (owner: string, peer: string, conversationId: string, seq: number) => {
    const { before, after } = await store.raiseDeliveredSeq(owner, conversationId, seq);
    if (after <= before) return;
    const readSeq = await messages.selectReadSeq(owner, conversationId);
    tellPeer(owner, peer, { conversationId, deliveredSeq: Math.max(after, readSeq), readSeq });
  };

  return {
    delivered,

    /** `owner` read up to `readSeq` (already stored): the peer hears of it. */
    async read(owner: string, peer: string, conversationId: string, readSeq: number) {
      const deliveredSeq = await store.selectDeliveredSeq(owner, conversationId);
      tellPeer(owner, peer, {
        conversationId,
        deliveredSeq: Math.max(deliveredSeq, readSeq),
        readSeq,
      });
    },

    /** AckDelivered: each conversation's delivered seq, clamped to its latest seq. */
    async ack(caller: Caller, acks: readonly DeliveredAck[]) {
      assertBatch(acks, "acks", deps.ackMax);
      const highest = new Map<string, number>();
      for (const [i, ack] of acks.entries()) {
        assertUserId(ack.peerUserId, `acks[${i}].peer_user_id`);
        const seq = seqFromRequest(ack.seq, `acks[${i}].seq`);
        highest.set(ack.peerUserId, Math.max(highest.get(ack.peerUserId) ?? 0, seq));
      }
      await Promise.all(
        [...highest].map(async ([peer, seq]) => {
          const conversationId = c2cConversationId(caller.userId, peer);
          const target = Math.min(seq, await messages.selectLastSeq(conversationId));
          if (target > 0) await delivered(caller.userId, peer, conversationId, target);
        }),
      );
    },

    /** The peer's watermarks in the caller's conversation with them. */
    async peerWatermarks(caller: Caller, peer: string): Promise<C2cWatermarks> {
      assertUserId(peer, "peer_user_id");
      return watermarksOf(peer, c2cConversationId(caller.userId, peer));
    },
  };
}
