/**
 * A small key-value port with a bucket-wide time to live, for state every node must
 * see and that must lapse on its own when nobody refreshes it (presence leases). The
 * NATS adapter is a JetStream KV bucket (its max age is the TTL); the memory adapter
 * lives in the MemoryHub so buses on one hub share it.
 */

export interface KvEntry {
  value: Uint8Array;
  /** Changes on every write; `update` succeeds only at the revision it was given. */
  revision: number;
}

export interface KvBucketOptions {
  /**
   * An entry not written for this long is gone (0: never). Measured from the entry's
   * last write, on the bus server's clock (NATS) or the bus's injected clock (memory).
   */
  ttlMs: number;
}

export interface Kv {
  /** The live entry, or undefined when absent, deleted or expired. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes unconditionally; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key is absent (or deleted / expired); undefined when it exists. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Writes only at `revision`; undefined when the entry changed or is gone meanwhile. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Removes the entry (a no-op when absent). */
  delete(key: string): Promise<void>;
  /** Keys of live entries that start with `prefix` followed by "." (all keys when omitted). */
  keys(prefix?: string): Promise<string[]>;
}

/**
 * Keys are tokens of [A-Za-z0-9_=/-] joined by "." (what NATS KV accepts, and what
 * a prefix filter can split on).
 */
export const KV_KEY = /^[A-Za-z0-9_=/-]+(\.[A-Za-z0-9_=/-]+)*$/;

export function assertKvKey(key: string): void {
  if (!KV_KEY.test(key)) throw new Error(`invalid kv key: "${key}"`);
}
