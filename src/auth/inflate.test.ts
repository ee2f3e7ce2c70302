import { randomBytes } from "node:crypto";
import { constants, deflateSync, inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { InflateError, inflateZlib, inflateZlibText } from "./inflate.js";

const MAX = 64 * 1024;

// Inputs that make zlib use each block type: stored (level 0), fixed codes
// (short or Z_FIXED), dynamic codes (longer repetitive text), long matches.
const samples: [string, Buffer][] = [
  ["empty", Buffer.alloc(0)],
  [
    "a UserSig document",
    Buffer.from(
      JSON.stringify({
        "TLS.ver": "2.0",
        "TLS.identifier": "alice",
        "TLS.sdkappid": 1400000001,
        "TLS.expire": 86400,
        "TLS.time": 1700000000,
        "TLS.sig": "q1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u=",
      }),
    ),
  ],
  ["repetitive text", Buffer.from("the quick brown fox jumps over the lazy dog ".repeat(300))],
  ["random bytes", randomBytes(5000)],
  ["one byte repeated", Buffer.alloc(40000, 7)],
  [
    "mixed",
    Buffer.concat([
      randomBytes(300),
      Buffer.from("abcabcabcabc".repeat(50)),
      randomBytes(70000).subarray(0, 20000),
    ]),
  ],
];

describe("inflateZlib", () => {
  for (const [name, data] of samples) {
    for (const options of [
      { level: 0 },
      { level: 1 },
      { level: 9 },
      { strategy: constants.Z_FIXED },
      { strategy: constants.Z_HUFFMAN_ONLY },
      { strategy: constants.Z_RLE },
    ]) {
      it(`inflates ${name} deflated with ${JSON.stringify(options)} as zlib does`, () => {
        const deflated = deflateSync(data, options);
        expect(Buffer.from(inflateZlib(deflated, MAX))).toEqual(inflateSync(deflated));
      });
    }
  }

  it("refuses output past the limit", () => {
    const deflated = deflateSync(Buffer.alloc(MAX + 1));
    expect(() => inflateZlib(deflated, MAX)).toThrow(InflateError);
    expect(inflateZlib(deflateSync(Buffer.alloc(MAX)), MAX)).toHaveLength(MAX);
  });

  it("holds a small limit after a larger output grew its buffer, and returns copies", () => {
    const large = inflateZlib(deflateSync(Buffer.alloc(60_000, 1)), MAX);
    expect(() => inflateZlib(deflateSync(Buffer.alloc(2000, 2)), 1000)).toThrow(InflateError);
    expect(() => inflateZlib(deflateSync(Buffer.alloc(2000, 2), { level: 0 }), 1000)).toThrow(
      InflateError,
    );
    inflateZlib(deflateSync(Buffer.alloc(100, 3)), MAX);
    expect(large.every((b) => b === 1)).toBe(true);
  });

  it("decodes text as UTF-8", () => {
    const text = JSON.stringify({ "TLS.identifier": "ünïcode ✓", n: 1 });
    expect(inflateZlibText(deflateSync(Buffer.from(text)), MAX)).toBe(text);
  });

  it("refuses a bad header, a truncated stream and a bad checksum", () => {
    const good = deflateSync(Buffer.from("hello hello hello hello"));
    const badHeader = Buffer.from(good);
    badHeader[0] = 0x79;
    const badChecksum = Buffer.from(good);
    const lastByte = badChecksum.length - 1;
    badChecksum[lastByte] = (badChecksum[lastByte] ?? 0) ^ 1;
    expect(() => inflateZlib(badHeader, MAX)).toThrow(InflateError);
    expect(() => inflateZlib(good.subarray(0, good.length - 5), MAX)).toThrow(InflateError);
    expect(() => inflateZlib(badChecksum, MAX)).toThrow(InflateError);
    expect(() =>
      inflateZlib(deflateSync(Buffer.from("x"), { level: 0 }).subarray(0, 6), MAX),
    ).toThrow(InflateError);
  });

  it("never hangs or answers wrongly on corrupted input", () => {
    const data = Buffer.from(JSON.stringify({ text: "corruption ".repeat(40), n: 12345 }));
    const good = deflateSync(data);
    for (let i = 0; i < 3000; i++) {
      const bad = Buffer.from(good);
      const at = 2 + (i % (bad.length - 2));
      bad[at] = (bad[at] ?? 0) ^ (1 << (i % 8));
      let zlib: Buffer | undefined;
      try {
        zlib = inflateSync(bad, { maxOutputLength: MAX });
      } catch {
        zlib = undefined;
      }
      let ours: Uint8Array | undefined;
      try {
        ours = inflateZlib(bad, MAX);
      } catch (err) {
        expect(err).toBeInstanceOf(InflateError);
        ours = undefined;
      }
      // What we accept, zlib accepts with the same bytes (the checksum guards the rest).
      if (ours !== undefined) expect(Buffer.from(ours)).toEqual(zlib);
    }
  });
});
