import { gzipSync } from "node:zlib";
import { envelope, type Wire } from "./raw-call.js";

/** A small fast PRNG (mulberry32): the same seed gives the same cases. */
export function createRng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => int(256)),
  };
}
export type Rng = ReturnType<typeof createRng>;

/** One request on the wire, as the fuzzer sends it. */
export interface WireRequest {
  wire: Wire;
  /** Full HTTP body (already framed for enveloped wires). */
  body: Uint8Array;
  headers: Record<string, string>;
}

export interface Valid {
  binary: Uint8Array;
  json: string;
  streaming: boolean;
}

export const MUTATIONS = [
  "valid",
  "truncate",
  "random-bytes",
  "bit-flips",
  "huge-varint",
  "huge-length",
  "deep-groups",
  "deep-messages",
  "unknown-field-flood",
  "gzip-bomb",
  "bad-compression",
  "wrong-content-type",
  "bad-envelope",
  "json-garbage",
  "json-deep",
  "json-wrong-types",
  "bad-timeout",
  "no-auth",
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Deepest JSON nesting sent here (about 5 bytes a level). */
export const MAX_JSON_DEPTH = 10_000;

/** Largest decompressed size of a bomb here (see the report: bigger bombs need the transport caps). */
export const BOMB_BYTES = 128 * 1024;

const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const concat = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));

/** A mutated request of `mutation` built from a valid one. */
export function mutate(rng: Rng, valid: Valid, mutation: Mutation, wire: Wire): WireRequest {
  const headers: Record<string, string> = {};
  const json = wire === "connect-json";
  const enveloped = wire !== "connect-proto" && wire !== "connect-json";
  const frame = (data: Uint8Array, flags = 0) => (enveloped ? envelope(flags, data) : data);
  const base = json ? new TextEncoder().encode(valid.json) : valid.binary;
  const done = (body: Uint8Array, w: Wire = wire): WireRequest => ({ wire: w, body, headers });
  /** JSON text as the method takes it: unary Connect JSON, or an enveloped Connect stream. */
  const jsonBody = (text: string): WireRequest => {
    const bytes = new TextEncoder().encode(text);
    if (!valid.streaming) return done(bytes, "connect-json");
    headers["content-type"] = "application/connect+json";
    return done(envelope(0, bytes), "connect-stream");
  };
  const compressedAs = (data: Uint8Array) => {
    const zipped = gzipSync(data);
    if (enveloped) {
      headers[wire === "connect-stream" ? "connect-content-encoding" : "grpc-encoding"] = "gzip";
      return done(envelope(1, zipped));
    }
    headers["content-encoding"] = "gzip";
    return done(zipped);
  };

  switch (mutation) {
    case "valid":
      return done(frame(base));
    case "truncate":
      return done(frame(base.subarray(0, rng.int(Math.max(1, base.byteLength)))));
    case "random-bytes":
      return done(frame(rng.bytes(rng.int(512))));
    case "bit-flips": {
      const out = Uint8Array.from(base);
      if (out.byteLength === 0) return done(frame(rng.bytes(4)));
      for (let i = 1 + rng.int(8); i > 0; i--) {
        const at = rng.int(out.byteLength);
        out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
      }
      return done(frame(out));
    }
    case "huge-varint": {
      // A varint of 10+ bytes (overflows 64 bits) for a random field number.
      const tag = varint(((1 + rng.int(20)) << 3) | 0);
      const huge = [...Array(10 + rng.int(6)).fill(0xff), 0x01];
      const at = rng.int(base.byteLength + 1);
      return done(frame(concat(base.subarray(0, at), tag, huge, base.subarray(at))));
    }
    case "huge-length": {
      // A length-delimited field claiming far more bytes than follow.
      const tag = varint(((1 + rng.int(20)) << 3) | 2);
      return done(frame(concat(base, tag, varint(2 ** 31 - 1 - rng.int(1000)), rng.bytes(8))));
    }
    case "deep-groups": {
      const depth = 50 + rng.int(2000);
      const no = 1000 + rng.int(1000);
      return done(
        frame(
          concat(
            base,
            Array(depth)
              .fill(varint((no << 3) | 3))
              .flat(),
            Array(depth)
              .fill(varint((no << 3) | 4))
              .flat(),
          ),
        ),
      );
    }
    case "deep-messages": {
      // Nested length-delimited fields under every field number the schema may use.
      let inner: number[] = [];
      const no = 1 + rng.int(12);
      for (let i = 100 + rng.int(400); i > 0; i--) {
        inner = [...varint((no << 3) | 2), ...varint(inner.length), ...inner];
      }
      return done(frame(concat(base, inner)));
    }
    case "unknown-field-flood": {
      const n = 1000 + rng.int(10_000);
      const field = varint(((5000 + rng.int(10_000)) << 3) | 0);
      const flood = new Uint8Array(n * (field.length + 1));
      for (let i = 0; i < n; i++) flood.set([...field, rng.int(128)], i * (field.length + 1));
      return done(frame(concat(base, flood)));
    }
    case "gzip-bomb": {
      // Modest here: up to BOMB_BYTES decompressed, a few KB on the wire.
      const n = 16 * 1024 + rng.int(BOMB_BYTES - 16 * 1024);
      const bomb = new Uint8Array(n);
      if (!json && rng.next() < 0.5) {
        // Unknown varint fields (0xf8 0x3e 0x00 = field 1000, value 0), repeated.
        for (let i = 0; i + 3 <= n; i += 3) bomb.set([0xf8, 0x3e, 0x00], i);
      }
      return compressedAs(concat(base, bomb));
    }
    case "bad-compression": {
      if (rng.next() < 0.5) {
        headers[enveloped ? "grpc-encoding" : "content-encoding"] = rng.pick([
          "snappy",
          "zstd",
          "x",
        ]);
        return done(frame(base, enveloped ? 1 : 0));
      }
      // Claims gzip, is not gzip.
      const out = compressedAs(base);
      return { ...out, body: frame(rng.bytes(1 + rng.int(64)), enveloped ? 1 : 0) };
    }
    case "wrong-content-type": {
      headers["content-type"] = rng.pick([
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/connect+proto",
        "application/grpc+json",
        "application/proto; charset=ebcdic",
        "application/octet-stream",
      ]);
      return done(frame(base));
    }
    case "bad-envelope": {
      if (!enveloped) return done(rng.bytes(rng.int(16)));
      const variants = [
        () => concat([0, 0xff, 0xff, 0xff, 0xff], base), // length beyond the body
        () => concat(envelope(0, base), envelope(0, base)), // two messages for one
        () => envelope(0x80 | rng.int(128), base), // unknown flags
        () => base.subarray(0, rng.int(5)), // not even a header
        () => concat(envelope(0, base), [0, 0]), // trailing garbage
      ];
      return done(rng.pick(variants)());
    }
    case "json-garbage": {
      const text = rng.pick([
        "{",
        "[]",
        "null",
        '"str"',
        '{"a":}',
        `{"${"k".repeat(rng.int(20_000))}":1}`,
        '{"x":"\\ud800"}',
        valid.json.slice(0, rng.int(valid.json.length + 1)),
        valid.json.replace(/"/g, "'"),
      ]);
      return jsonBody(text);
    }
    case "json-deep": {
      // Up to ~50 KB of text; deeper needs the transport's request-size cap (see the report).
      const depth = 100 + rng.int(MAX_JSON_DEPTH);
      const text =
        rng.next() < 0.5
          ? "[".repeat(depth) + "]".repeat(depth)
          : `{"a":${'{"a":'.repeat(depth)}1${"}".repeat(depth + 1)}`;
      return jsonBody(text);
    }
    case "json-wrong-types": {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(valid.json) as Record<string, unknown>;
      } catch {
        obj = {};
      }
      const keys = Object.keys(obj);
      const key = keys.length > 0 && rng.next() < 0.8 ? rng.pick(keys) : `unknown${rng.int(100)}`;
      obj[key] = rng.pick<unknown>([
        "18446744073709551616",
        -1,
        1e308,
        "NaN",
        true,
        [],
        {},
        "X_BOGUS_ENUM",
        "a".repeat(rng.int(5000)),
        null,
      ]);
      return jsonBody(JSON.stringify(obj));
    }
    case "bad-timeout": {
      const value = rng.pick(["-1", "abc", "99999999999999999999", "1H", "0"]);
      headers[enveloped ? "grpc-timeout" : "connect-timeout-ms"] = value;
      return done(frame(base));
    }
    case "no-auth":
      headers.authorization = rng.pick(["", "Bearer", "Bearer x", `Bearer ${"A".repeat(4000)}`]);
      return done(frame(base));
  }
}
