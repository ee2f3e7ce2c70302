/** The in-process KV: entries in a map the hub shares, expiry judged with the injected clock. */
import type { Clock } from "../common/clock.js";
import { flat } from "../common/flat-string.js";
import { assertKvKey, type Kv } from "./kv.js";

export interface StoredKvEntry {
  /**
   * The value's bytes as a latin1 string: a string lives in the JS heap alone,
   * where a Uint8Array of its own is three objects and a native allocation
   * (presence keeps a record per user with a stream).
   */
  bytes: string;
  revision: number;
  writtenAtMs: number;
}

/** One bucket's entries and its revision counter, shared by every bus on a hub. */
export interface MemoryKvBucket {
  entries: Map<string, StoredKvEntry>;
  lastRevision: number;
}

export function createMemoryKvBucket(): MemoryKvBucket {
  return { entries: new Map(), lastRevision: 0 };
}

export function createMemoryKv(bucket: MemoryKvBucket, ttlMs: number, clock: Clock): Kv {
  const live = (key: string): StoredKvEntry | undefined => {
    const entry = bucket.entries.get(key);
    if (entry === undefined) return undefined;
    if (ttlMs > 0 && clock() - entry.writtenAtMs >= ttlMs) {
      bucket.entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const write = (key: string, value: Uint8Array): number => {
    const revision = ++bucket.lastRevision;
    // Copied (the caller may reuse its buffer); keys are kept flat.
    bucket.entries.set(flat(key), {
      bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1"),
      revision,
      writtenAtMs: clock(),
    });
    return revision;
  };
  return {
    async get(key) {
      assertKvKey(key);
      const entry = live(key);
      return entry === undefined
        ? undefined
        : { value: Buffer.from(entry.bytes, "latin1"), revision: entry.revision };
    },
    async put(key, value) {
      assertKvKey(key);
      return write(key, value);
    },
    async create(key, value) {
      assertKvKey(key);
      return live(key) === undefined ? write(key, value) : undefined;
    },
    async update(key, value, revision) {
      assertKvKey(key);
      return live(key)?.revision === revision ? write(key, value) : undefined;
    },
    async delete(key) {
      assertKvKey(key);
      bucket.entries.delete(key);
    },
    async keys(prefix) {
      if (prefix !== undefined) assertKvKey(prefix);
      const out: string[] = [];
      for (const key of [...bucket.entries.keys()]) {
        if (prefix !== undefined && !key.startsWith(`${prefix}.`)) continue;
        if (live(key) !== undefined) out.push(key);
      }
      return out;
    },
  };
}
