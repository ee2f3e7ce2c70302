import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import type { ServiceEndpoint } from "./provided-context.js";

export {
  type FerretDbOptions,
  freePort,
  type NatsCluster,
  type NatsServerOptions,
  type ServiceProcess,
  startFerretDb,
  startNatsCluster,
  startNatsServer,
} from "./local-process.js";
export type { ServiceEndpoint } from "./provided-context.js";

function urlOf(endpoint: ServiceEndpoint): string {
  if ("url" in endpoint) return endpoint.url;
  // Thrown, never skipped: a test that needs a service must not pass without one.
  throw new Error(endpoint.error);
}

/** The run's shared MongoDB (real mongo, or FerretDB); use a uniqueName() database in it. */
export function testMongoUrl(): string {
  return urlOf(inject("imTestMongo"));
}

/** The run's shared NATS server with JetStream; use uniqueName() streams and subjects. */
export function testNatsUrl(): string {
  return urlOf(inject("imTestNats"));
}

let counter = 0;

/**
 * A fresh name for a database, stream or subject prefix: `[a-z0-9_]`, at most 40 chars
 * (within MongoDB's and FerretDB's database name limits), unique across workers and runs
 * because it mixes time, pid, a per-process counter and random bits.
 */
export function uniqueName(prefix: string): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, "_")
      .slice(0, 16) || "t";
  const time = Date.now().toString(36);
  const pid = process.pid.toString(36);
  counter += 1;
  return `${clean}_${time}_${pid}_${counter.toString(36)}${randomBytes(2).toString("hex")}`;
}
