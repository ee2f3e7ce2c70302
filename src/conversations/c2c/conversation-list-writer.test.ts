import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MessageSchema } from "../../gen/im/v1/message_pb.js";
import { mergeConversationUpdates } from "./conversation-list-writer.js";
import type { ConversationUpdate } from "./store.js";

const update = (owner: string, seq: number, withMessage: boolean): ConversationUpdate => ({
  ownerUserId: owner,
  conversationId: "c2c:a:b",
  peerUserId: owner === "a" ? "b" : "a",
  seq,
  lastMessage: withMessage ? create(MessageSchema, { seq: BigInt(seq) }) : undefined,
  timeMs: seq * 10,
});

describe("merging conversation-list updates", () => {
  it("keeps the newest per owner and conversation", () => {
    const merged = mergeConversationUpdates([
      update("a", 1, true),
      update("b", 1, true),
      update("a", 3, true),
      update("a", 2, true),
    ]);
    expect(merged.map((u) => [u.ownerUserId, u.seq])).toEqual([
      ["a", 3],
      ["b", 1],
    ]);
  });

  it("keeps an older last message beside a newer update without one", () => {
    const merged = mergeConversationUpdates([
      update("a", 1, true),
      update("a", 2, false),
      update("b", 3, false),
      update("b", 4, true),
    ]);
    expect(merged.map((u) => [u.ownerUserId, u.seq, u.lastMessage !== undefined])).toEqual([
      ["a", 1, true],
      ["a", 2, false],
      ["b", 4, true],
    ]);
  });
});
