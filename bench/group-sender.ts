import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { type MessageElement, MessageElementSchema } from "../src/gen/im/v1/elements_pb.js";
import { GroupMessagePriority, GroupService } from "../src/gen/im/v1/group_pb.js";
import type { GroupTracker } from "./group-tracker.js";

/** One sender's SendGroupMessage calls, each reported to the tracker. */
export interface GroupSender {
  /**
   * Sends one message and resolves with its answer (seq 0: dropped).
   * `expected` is how many online members should receive it.
   */
  send(options: {
    groupId: string;
    id: string;
    expected: number;
    priority?: GroupMessagePriority;
  }): Promise<bigint | undefined>;
}

// A typical short chat line, as in the one-to-one bench.
const BODY: MessageElement[] = [
  create(MessageElementSchema, {
    element: { case: "text", value: { text: "benchmark message: the quick brown fox jumps over" } },
  }),
];
const SEND_TIMEOUT_MS = 10_000;

export function createGroupSender(options: {
  transport: Transport;
  headers: Record<string, string>;
  /** The running phase's tracker (one sender serves every phase). */
  tracker: () => GroupTracker;
}): GroupSender {
  const client: Client<typeof GroupService> = createClient(GroupService, options.transport);
  // Unique per message, so the same-sender/random/content duplicate rule never fires.
  let random = 0;
  return {
    async send({ groupId, id, expected, priority = GroupMessagePriority.NORMAL }) {
      const tracker = options.tracker();
      tracker.sent(id, expected);
      try {
        const res = await client.sendGroupMessage(
          { groupId, body: BODY, clientMessageId: id, random: ++random, priority },
          { headers: options.headers, timeoutMs: SEND_TIMEOUT_MS },
        );
        tracker.answered(id, res.seq);
        return res.seq;
      } catch (err) {
        tracker.failed(id, Code[ConnectError.from(err).code] ?? "unknown");
        return undefined;
      }
    },
  };
}
