import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SubscribeResponse } from "../gen/im/v1/events_pb.js";
import { silentLogger } from "../log/logger.js";
import { createGroupReceiptEvents, type ReadMessage } from "./group-receipt-events.js";

const message = (seq: number, sender = "alice"): ReadMessage => ({
  groupId: "g",
  seq,
  messageKey: `g:${seq}`,
  senderUserId: sender,
});

describe("group receipt events", () => {
  let counts: Map<string, number>;
  let sent: { userId: string; event: SubscribeResponse }[];
  const make = () =>
    createGroupReceiptEvents({
      windowMs: 500,
      countReads: async (key) => counts.get(key) ?? 0,
      live: { publishToUser: (userId, event) => sent.push({ userId, event }) },
      logger: silentLogger,
    });
  const receipts = () =>
    sent.flatMap(({ userId, event }) =>
      event.event.case === "groupReceipt"
        ? [[userId, event.event.value.messageKey, event.event.value.readCount]]
        : [],
    );
  beforeEach(() => {
    vi.useFakeTimers();
    counts = new Map();
    sent = [];
  });
  afterEach(() => vi.useRealTimers());

  it("sends one event per message per window, with the count at its end", async () => {
    const events = make();
    for (let i = 1; i <= 1000; i++) {
      counts.set("g:1", i);
      events.touched(message(1));
      if (i % 2 === 0) events.touched(message(2, "bob"));
    }
    counts.set("g:2", 500);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(499);
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(receipts()).toEqual([
      ["alice", "g:1", 1000],
      ["bob", "g:2", 500],
    ]);
    // Reads after the window start the next one.
    counts.set("g:1", 1001);
    events.touched(message(1));
    await vi.advanceTimersByTimeAsync(500);
    expect(receipts().slice(2)).toEqual([["alice", "g:1", 1001]]);
    // Nothing read: nothing sent.
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(3);
  });

  it("sends what is pending when stopped", async () => {
    const events = make();
    counts.set("g:7", 3);
    events.touched(message(7));
    await events.stop();
    expect(receipts()).toEqual([["alice", "g:7", 3]]);
  });
});
