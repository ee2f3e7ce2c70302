import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Meters } from "./meters.js";

/** A value read when Prometheus scrapes (open streams, consumer backlog, outbox depth). */
export interface Samples {
  openStreams?: () => number;
  /** Sends published but not yet confirmed by the bus, per conversation kind, in this process. */
  outboxInFlight?: () => Record<string, number>;
  /** Per kind, messages of any node unpublished past the outbox's stale age (a store query). */
  outboxStale?: () => Promise<Record<string, number>>;
  /** The durable consumer's backlog; undefined when the bus reports none. */
  consumerBacklog?: () => Promise<
    { consumer: string; pending: number; ackPending: number } | undefined
  >;
}

export interface Metrics {
  registry: Registry;
  meters: Meters;
  /** Adds scrape-time samples (set once the components exist). */
  sample(samples: Samples): void;
}

// Seconds; from sub-millisecond calls to the 2 s webhook limit and beyond.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The registry and its meters; names are listed in docs/observability.md. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const rpcs = new Counter({
    name: "im_rpc_requests_total",
    help: "RPCs finished, by service, method and Connect code",
    labelNames: ["service", "method", "code"] as const,
    registers,
  });
  const rpcSeconds = new Histogram({
    name: "im_rpc_duration_seconds",
    help: "RPC latency (unary: to the response; streams: to the end of the stream)",
    labelNames: ["service", "method"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const sent = new Counter({
    name: "im_messages_sent_total",
    help: "Send calls by conversation kind and outcome",
    labelNames: ["kind", "outcome"] as const,
    registers,
  });
  const fannedOut = new Counter({
    name: "im_fanout_deliveries_total",
    help: "Stored messages handled by fan-out (live delivery, conversation lists, after-send)",
    labelNames: ["kind"] as const,
    registers,
  });
  const fanoutLag = new Histogram({
    name: "im_fanout_lag_seconds",
    help: "From a message's time to its fan-out handling",
    labelNames: ["kind"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const webhooks = new Counter({
    name: "im_webhook_requests_total",
    help: "Webhook calls by event type and outcome",
    labelNames: ["event", "outcome"] as const,
    registers,
  });
  const webhookSeconds = new Histogram({
    name: "im_webhook_duration_seconds",
    help: "Webhook call latency by event type",
    labelNames: ["event"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const storeSeconds = new Histogram({
    name: "im_store_command_duration_seconds",
    help: "MongoDB command latency (driver command monitoring), by command and success",
    labelNames: ["command", "ok"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const rejected = new Counter({
    name: "im_requests_rejected_total",
    help: "Requests refused before a handler ran, by reason (REQUEST_TOO_LARGE, UNAUTHENTICATED, ...)",
    labelNames: ["reason"] as const,
    registers,
  });
  const liveWritten = new Counter({
    name: "im_live_events_written_total",
    help: "Live events written to streams (one per event per stream)",
    registers,
  });

  const samples: Samples = {};
  new Gauge({
    name: "im_live_streams_open",
    help: "Live event streams open on this node",
    registers,
    collect() {
      if (samples.openStreams !== undefined) this.set(samples.openStreams());
    },
  });
  new Gauge({
    name: "im_outbox_in_flight",
    help: "Stored messages of this node published to the bus but not yet confirmed, by kind",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      for (const [kind, n] of Object.entries(samples.outboxInFlight?.() ?? {})) {
        this.set({ kind }, n);
      }
    },
  });
  new Gauge({
    name: "im_outbox_stale_messages",
    help: "Stored messages of any node not yet on the bus after the outbox's stale age, by kind",
    labelNames: ["kind"] as const,
    registers,
    async collect() {
      const stale = await samples.outboxStale?.().catch(() => undefined);
      for (const [kind, n] of Object.entries(stale ?? {})) this.set({ kind }, n);
    },
  });
  // Both backlog gauges collect in the same scrape: one consumer-info request serves them.
  type Backlog = Awaited<ReturnType<NonNullable<Samples["consumerBacklog"]>>>;
  let backlogRequest: Promise<Backlog> | undefined;
  const backlog = () => {
    backlogRequest ??= (samples.consumerBacklog?.() ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .finally(() => {
        backlogRequest = undefined;
      });
    return backlogRequest;
  };
  new Gauge({
    name: "im_jetstream_consumer_pending",
    help: "Events in the stream not yet delivered to the durable consumer",
    labelNames: ["consumer"] as const,
    registers,
    async collect() {
      const b = await backlog();
      if (b !== undefined) this.set({ consumer: b.consumer }, b.pending);
    },
  });
  new Gauge({
    name: "im_jetstream_consumer_ack_pending",
    help: "Events delivered to the durable consumer and not yet acked",
    labelNames: ["consumer"] as const,
    registers,
    async collect() {
      const b = await backlog();
      if (b !== undefined) this.set({ consumer: b.consumer }, b.ackPending);
    },
  });

  const meters: Meters = {
    rpcFinished(service, method, code, seconds) {
      rpcs.inc({ service, method, code });
      rpcSeconds.observe({ service, method }, seconds);
    },
    messageSent: (kind, outcome) => sent.inc({ kind, outcome }),
    messageFannedOut(kind, lagSeconds) {
      fannedOut.inc({ kind });
      fanoutLag.observe({ kind }, Math.max(0, lagSeconds));
    },
    webhookFinished(event, outcome, seconds) {
      webhooks.inc({ event, outcome });
      webhookSeconds.observe({ event }, seconds);
    },
    storeCommandFinished: (command, ok, seconds) =>
      storeSeconds.observe({ command, ok: String(ok) }, seconds),
    requestRejected: (reason) => rejected.inc({ reason }),
    liveEventsWritten: (count) => liveWritten.inc(count),
  };
  return {
    registry,
    meters,
    sample: (more) => Object.assign(samples, more),
  };
}
