import { createLatencyRecorder, type LatencySummary } from "./latency.js";

/**
 * Follows group messages by client message id: when each was sent, how many of
 * the group's online members should get it, and when the last one did. All in
 * this process, so send->last-member latency needs no clock agreement.
 * Live deliveries of ids it does not know (tips, other phases) are counted apart.
 */
export interface GroupTracker {
  /** A send starts; `expected` online members should receive the message. */
  sent(id: string, expected: number): void;
  /** The server stored it (seq > 0) or dropped it under frequency control (seq 0). */
  answered(id: string, seq: bigint): void;
  failed(id: string, code: string): void;
  /** One live delivery of the message to one stream, read at `at` (performance.now()). */
  delivered(id: string, at?: number): void;
  /** Resolves when every expected member has the message, or false after `timeoutMs`. */
  whenComplete(id: string, timeoutMs: number): Promise<boolean>;
  /** Starts the measurement window: sends and deliveries inside it count. */
  openWindow(durationMs: number): void;
  /** Ends the window now if it is still open (a phase that ends on its own). */
  closeWindow(): void;
  /** Accepted messages not yet fully delivered. */
  incomplete(): number;
  /** Ids of every message the server stored (warm-up included). */
  acceptedIds(): Set<string>;
  /** Whether every expected member got the message. */
  isComplete(id: string): boolean;
  result(): GroupTrackerResult;
}

export interface GroupTrackerResult {
  windowSec: number;
  /** Sends started in the window, and how they were answered. */
  sent: number;
  accepted: number;
  dropped: number;
  failed: number;
  failures: Record<string, number>;
  /** Deliveries of any tracked message inside the window, per second of it. */
  deliveriesPerSec: number;
  deliveriesEachSecond: number[];
  /** Of the accepted messages sent in the window. */
  fullyDelivered: number;
  /** Accepted but some member never got it (by the end of the drain). */
  incompleteMessages: number;
  /** Member deliveries those were short by. */
  missingDeliveries: number;
  /** Deliveries past a message's expected count (a redelivery, a duplicate stream). */
  extraDeliveries: number;
  /** Send to the last member's delivery, per fully delivered message. */
  sendToLastMs: LatencySummary;
  /** Send to the first member's delivery. */
  sendToFirstMs: LatencySummary;
  sendToAckMs: LatencySummary;
  /** Deliveries of ids this tracker did not send. */
  foreign: number;
}

interface Entry {
  sentAt: number;
  measured: boolean;
  expected: number;
  got: number;
  state: "sent" | "accepted" | "dropped" | "failed";
  waiters: (() => void)[];
}

export function createGroupTracker(): GroupTracker {
  const entries = new Map<string, Entry>();
  const toLast = createLatencyRecorder(1024);
  const toFirst = createLatencyRecorder(1024);
  const toAck = createLatencyRecorder(1024);
  const failures: Record<string, number> = {};
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let perSecond: number[] = [];
  let sent = 0;
  let accepted = 0;
  let dropped = 0;
  let failed = 0;
  let deliveriesInWindow = 0;
  let extra = 0;
  let foreign = 0;

  const inWindow = (t: number) => t >= windowStart && t < windowEnd;
  const complete = (e: Entry) => e.got >= e.expected;
  const wake = (e: Entry) => {
    for (const w of e.waiters.splice(0)) w();
  };

  return {
    sent(id, expected) {
      const now = performance.now();
      const measured = inWindow(now);
      if (measured) sent++;
      entries.set(id, { sentAt: now, measured, expected, got: 0, state: "sent", waiters: [] });
    },
    answered(id, seq) {
      const e = entries.get(id);
      if (e === undefined) return;
      // A dropped message is never delivered; one delivered already was stored.
      e.state = seq > 0n || e.got > 0 ? "accepted" : "dropped";
      if (e.measured) {
        toAck.add(performance.now() - e.sentAt);
        if (e.state === "accepted") accepted++;
        else dropped++;
      }
      if (e.state === "dropped") wake(e);
    },
    failed(id, code) {
      const e = entries.get(id);
      if (e === undefined) return;
      e.state = "failed";
      if (e.measured) {
        failed++;
        failures[code] = (failures[code] ?? 0) + 1;
      }
      wake(e);
    },
    delivered(id, at) {
      const e = entries.get(id);
      if (e === undefined) {
        foreign++;
        return;
      }
      // A receiver in another process stamps the read itself; its report comes later.
      const now = at ?? performance.now();
      if (inWindow(now)) {
        deliveriesInWindow++;
        const second = Math.floor((now - windowStart) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
      e.got++;
      if (e.got > e.expected) {
        extra++;
        return;
      }
      if (e.got === 1 && e.measured) toFirst.add(now - e.sentAt);
      if (complete(e)) {
        if (e.measured) toLast.add(now - e.sentAt);
        wake(e);
      }
    },
    whenComplete(id, timeoutMs) {
      const e = entries.get(id);
      if (e === undefined) return Promise.resolve(false);
      if (complete(e) || e.state === "dropped" || e.state === "failed") {
        return Promise.resolve(complete(e));
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        e.waiters.push(() => {
          clearTimeout(timer);
          resolve(complete(e));
        });
      });
    },
    openWindow(durationMs) {
      windowStart = performance.now();
      windowEnd = windowStart + durationMs;
      perSecond = new Array<number>(Math.ceil(durationMs / 1000)).fill(0);
    },
    closeWindow() {
      const now = performance.now();
      if (now < windowEnd) {
        windowEnd = now;
        perSecond = perSecond.slice(0, Math.ceil((now - windowStart) / 1000));
      }
    },
    incomplete() {
      let n = 0;
      for (const e of entries.values())
        if (e.state !== "dropped" && e.state !== "failed" && !complete(e)) n++;
      return n;
    },
    acceptedIds() {
      const ids = new Set<string>();
      for (const [id, e] of entries) if (e.state === "accepted") ids.add(id);
      return ids;
    },
    isComplete(id) {
      const e = entries.get(id);
      return e !== undefined && complete(e);
    },
    result() {
      const windowSec = (windowEnd - windowStart) / 1000;
      let fully = 0;
      let incompleteMessages = 0;
      let missing = 0;
      for (const e of entries.values()) {
        if (!e.measured || e.state !== "accepted") continue;
        if (complete(e)) fully++;
        else {
          incompleteMessages++;
          missing += e.expected - e.got;
        }
      }
      return {
        windowSec,
        sent,
        accepted,
        dropped,
        failed,
        failures,
        deliveriesPerSec: deliveriesInWindow / windowSec,
        // Whole seconds only: a partial last second would look like a dip.
        deliveriesEachSecond: perSecond.slice(0, Math.floor(windowSec)),
        fullyDelivered: fully,
        incompleteMessages,
        missingDeliveries: missing,
        extraDeliveries: extra,
        sendToLastMs: toLast.summary(),
        sendToFirstMs: toFirst.summary(),
        sendToAckMs: toAck.summary(),
        foreign,
      };
    },
  };
}
