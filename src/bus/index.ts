/** The bus's public surface: the port, its registry, errors and the two adapters. */
export type {
  Bus,
  BusEvent,
  BusMessageCounts,
  ConsumeOptions,
  ConsumerHandle,
  EventHandler,
  LiveHandler,
  PublishOptions,
  PublishResult,
  ReconcileAction,
  ReconcileReport,
} from "./bus.js";
export { BusReplicasError, BusUnavailableError, PoisonEventError } from "./errors.js";
export type { Kv, KvBucketOptions, KvEntry } from "./kv.js";
export { createMemoryBus, type MemoryBusOptions } from "./memory-bus.js";
export { createMemoryHub, type MemoryHub } from "./memory-hub.js";
export { type NatsBusOptions, openNatsBus } from "./nats-bus.js";
export {
  type BusRegistry,
  type BusSettings,
  type ConsumerKey,
  createBusRegistry,
  defaultBusSettings,
  MAX_STREAM_REPLICAS,
  type ReplicaClass,
  replicaClasses,
} from "./registry.js";
export { routeBySubject } from "./route-by-subject.js";
export { MAX_COUNTER_WINDOW_MS, type WindowCounters } from "./window-counters.js";
