import { create } from "@bufbuild/protobuf";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";

/** A receipt-requested group message whose read count moved. */
export interface ReadMessage {
  groupId: string;
  seq: number;
  messageKey: string;
  senderUserId: string;
}

export interface GroupReceiptEventsDeps {
  /** The coalescing window: one event per message per window on this node. */
  windowMs: number;
  /** The message's read count now (from the store: all nodes' reads). */
  countReads(messageKey: string): Promise<number>;
  live: Pick<LiveHub, "publishToUser">;
  logger: Logger;
}

export interface GroupReceiptEvents {
  /** Reads of `message` were recorded: its sender hears of it within the window. */
  touched(message: ReadMessage): void;
  /** Sends what is pending now and stops the timers. */
  stop(): Promise<void>;
}

/**
 * Coalesces read-count changes of group messages into one event per message
 * per window: the first read of a window starts its timer, later reads in it
 * only mark it, and when it ends the sender gets the count as stored then. A
 * 10,000-member group reading a message within 10 s costs its sender about
 * 10 s / window events per node, not 10,000.
 */
export function createGroupReceiptEvents(deps: GroupReceiptEventsDeps): GroupReceiptEvents {
  const pending = new Map<string, { message: ReadMessage; timer: NodeJS.Timeout }>();
  const sending = new Set<Promise<void>>();

  const send = async (message: ReadMessage): Promise<void> => {
    try {
      const readCount = await deps.countReads(message.messageKey);
      deps.live.publishToUser(
        message.senderUserId,
        create(SubscribeResponseSchema, {
          event: {
            case: "groupReceipt",
            value: {
              groupId: message.groupId,
              seq: BigInt(message.seq),
              messageKey: message.messageKey,
              readCount,
            },
          },
        }),
      );
    } catch (err) {
      // Live events are at most once; the sender can still query the count.
      deps.logger.warn("could not send a group read receipt event", {
        messageKey: message.messageKey,
        err,
      });
    }
  };
  const flush = (messageKey: string): void => {
    const entry = pending.get(messageKey);
    if (entry === undefined) return;
    // Reads after this point start the next window (and count here too at worst).
    pending.delete(messageKey);
    clearTimeout(entry.timer);
    const done = send(entry.message).finally(() => sending.delete(done));
    sending.add(done);
  };

  return {
    touched(message) {
      if (pending.has(message.messageKey)) return;
      const timer = setTimeout(() => flush(message.messageKey), deps.windowMs);
      timer.unref();
      pending.set(message.messageKey, { message, timer });
    },
    async stop() {
      for (const key of [...pending.keys()]) flush(key);
      await Promise.all(sending);
    },
  };
}
