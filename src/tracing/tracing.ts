import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Attributes,
  type Context,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

/** Trace context as headers (W3C `traceparent`, `tracestate`). */
export type TraceHeaders = Readonly<Record<string, string>>;

export interface SpanOptions {
  attributes?: Attributes;
  /** "server" for an RPC, "producer"/"consumer" around the bus, "client" for outgoing HTTP. */
  kind?: "internal" | "server" | "client" | "producer" | "consumer";
  /** Continue the trace these headers carry (from another process) instead of the active one. */
  remoteParent?: (name: string) => string | undefined;
}

/** Lets the code in a span add what it learns (e.g. the RPC's code). */
export interface ActiveSpan {
  setAttribute(key: string, value: string | number | boolean): void;
}

/**
 * The tracing port domain code sees: run a function in a span (a child of the
 * active one, or of a remote parent), and the active trace as headers to carry
 * along. OpenTelemetry stays behind it; with no exporter it is a no-op.
 */
export interface Tracing {
  readonly enabled: boolean;
  /** Runs `fn` in a new span; ends it when `fn` settles, recording an error as the status. */
  span<T>(name: string, fn: (span: ActiveSpan) => Promise<T>, options?: SpanOptions): Promise<T>;
  /** The active span's context as headers; empty when none (or tracing is off). */
  headers(): TraceHeaders;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const noSpan: ActiveSpan = { setAttribute: () => {} };
const noHeaders: TraceHeaders = Object.freeze({});

export const noTracing: Tracing = {
  enabled: false,
  span: (_name, fn) => fn(noSpan),
  headers: () => noHeaders,
  flush: async () => {},
  shutdown: async () => {},
};

const KINDS = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
} as const;

export interface TracingOptions {
  /** OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  serviceName: string;
  /** Batch export delay; default 1000 ms. */
  exportDelayMs?: number;
}

/**
 * OpenTelemetry tracing exported over OTLP/HTTP (JSON). The active span lives in
 * this instance's own AsyncLocalStorage and the provider is not registered
 * globally, so two apps in one process (tests) keep separate traces.
 */
export function createOtlpTracing(options: TracingOptions): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: options.url }),
        scheduledDelayMillis: options.exportDelayMs ?? 1000,
      }),
    ],
  });
  const tracer = provider.getTracer("im-server");
  const propagator = new W3CTraceContextPropagator();
  const active = new AsyncLocalStorage<Context>();
  const current = () => active.getStore() ?? ROOT_CONTEXT;

  return {
    enabled: true,
    span(name, fn, spanOptions = {}) {
      const { remoteParent } = spanOptions;
      const parent =
        remoteParent === undefined
          ? current()
          : propagator.extract(ROOT_CONTEXT, undefined, {
              get: (_carrier, key) => remoteParent(key),
              keys: () => [],
            });
      const span = tracer.startSpan(
        name,
        {
          kind: KINDS[spanOptions.kind ?? "internal"],
          ...(spanOptions.attributes === undefined ? {} : { attributes: spanOptions.attributes }),
        },
        parent,
      );
      return active.run(trace.setSpan(parent, span), async () => {
        try {
          return await fn({ setAttribute: (key, value) => span.setAttribute(key, value) });
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      });
    },
    headers() {
      const carrier: Record<string, string> = {};
      propagator.inject(current(), carrier, defaultTextMapSetter);
      return carrier;
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
