import { createLatencyRecorder, type LatencySummary } from "./latency.js";

/**
 * Follows every message from send to ack to delivery by its client message id,
 * in this one process, so send→deliver latency needs no clock agreement.
 * Only messages sent inside the measurement window count; warm-up traffic flows
 * but is not measured.
 */
export interface Tracker {
  /** Starts the window (after warm-up); ends it `durationMs` later. */
  openWindow(durationMs: number): void;
  sent(id: string): void;
  acked(id: string): void;
  failed(id: string, code: string): void;
  delivered(id: string): void;
  /** Acked messages not delivered yet (for the drain at the end). */
  pendingDeliveries(): number;
  inFlightSends(): number;
  result(): TrackerResult;
}

export interface TrackerResult {
  windowSec: number;
  /** Sends started in the window. */
  attempted: number;
  /** Acks and deliveries completed inside the window, per second of it. */
  ackedPerSec: number;
  deliveredPerSec: number;
  /** Deliveries per whole second of the window: the slowest and fastest second. */
  deliveredPerSecMin: number;
  deliveredPerSecMax: number;
  /** Deliveries in each whole second of the window, to show a trend (e.g. decay). */
  deliveredEachSecond: number[];
  acked: number;
  failed: number;
  failures: Record<string, number>;
  delivered: number;
  /** Acked in the window but never delivered by the end of the drain. */
  undelivered: number;
  /** Deliveries of a message seen before, or of one we did not send. */
  duplicates: number;
  sendToAckMs: LatencySummary;
  sendToDeliverMs: LatencySummary;
}

interface Entry {
  sentAt: number;
  measured: boolean;
  state: "sent" | "acked" | "failed" | "delivered";
  /** Delivery can overtake the ack (fan-out races the reply); remember it. */
  deliveredEarly: boolean;
}

export function createTracker(): Tracker {
  const entries = new Map<string, Entry>();
  const ackLatency = createLatencyRecorder();
  const deliverLatency = createLatencyRecorder();
  const failures: Record<string, number> = {};
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let windowMs = 0;
  let perSecond: number[] = [];
  let attempted = 0;
  let ackedInWindow = 0;
  let deliveredInWindow = 0;
  let acked = 0;
  let failed = 0;
  let delivered = 0;
  let duplicates = 0;
  let inFlight = 0;
  let awaitingDelivery = 0;

  const inWindow = (t: number) => t >= windowStart && t < windowEnd;

  return {
    openWindow(durationMs) {
      windowStart = performance.now();
      windowEnd = windowStart + durationMs;
      // Kept as given: end - start of two large floats can come out a hair short of it.
      windowMs = durationMs;
      perSecond = new Array<number>(Math.ceil(durationMs / 1000)).fill(0);
    },
    sent(id) {
      const now = performance.now();
      const measured = inWindow(now);
      if (measured) attempted++;
      inFlight++;
      entries.set(id, { sentAt: now, measured, state: "sent", deliveredEarly: false });
    },
    acked(id) {
      const now = performance.now();
      inFlight--;
      const e = entries.get(id);
      if (e === undefined) return;
      if (inWindow(now)) ackedInWindow++;
      if (e.measured) {
        acked++;
        ackLatency.add(now - e.sentAt);
      }
      if (e.deliveredEarly) {
        e.state = "delivered";
      } else {
        e.state = "acked";
        awaitingDelivery++;
      }
    },
    failed(id, code) {
      inFlight--;
      const e = entries.get(id);
      if (e === undefined) return;
      e.state = "failed";
      if (e.measured) {
        failed++;
        failures[code] = (failures[code] ?? 0) + 1;
      }
    },
    delivered(id) {
      const now = performance.now();
      const e = entries.get(id);
      if (e === undefined || e.state === "delivered" || e.deliveredEarly) {
        duplicates++;
        return;
      }
      if (inWindow(now)) {
        deliveredInWindow++;
        const second = Math.floor((now - windowStart) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
      if (e.measured) {
        delivered++;
        deliverLatency.add(now - e.sentAt);
      }
      if (e.state === "acked") {
        e.state = "delivered";
        awaitingDelivery--;
      } else {
        e.deliveredEarly = true;
      }
    },
    pendingDeliveries: () => awaitingDelivery,
    inFlightSends: () => inFlight,
    result() {
      const windowSec = windowMs / 1000;
      let undelivered = 0;
      for (const e of entries.values()) if (e.measured && e.state === "acked") undelivered++;
      // Only whole seconds: a partial last second would look like a dip.
      const whole = perSecond.slice(0, Math.floor(windowSec));
      return {
        windowSec,
        attempted,
        ackedPerSec: ackedInWindow / windowSec,
        deliveredPerSec: deliveredInWindow / windowSec,
        deliveredPerSecMin: whole.length > 0 ? Math.min(...whole) : Number.NaN,
        deliveredPerSecMax: whole.length > 0 ? Math.max(...whole) : Number.NaN,
        deliveredEachSecond: whole,
        acked,
        failed,
        failures,
        delivered,
        undelivered,
        duplicates,
        sendToAckMs: ackLatency.summary(),
        sendToDeliverMs: deliverLatency.summary(),
      };
    },
  };
}
