/**
 * zlib (RFC 1950) inflate of a small buffer, in JavaScript: a UserSig is ~150
 * deflated bytes. node:zlib's inflateSync builds a stream object, a native
 * zlib state and window (~40 KB) and a 16 KB output buffer for each call; for
 * the first sig of every opening stream those native allocations, freed only
 * later, grew the process's malloc heap by kilobytes per stream. Throws on
 * malformed input, a bad checksum or output past `maxOutput`.
 */
export function inflateZlib(input: Uint8Array, maxOutput: number): Uint8Array {
  const length = inflateIntoScratch(input, maxOutput); // first: it may replace `scratch`
  return scratch.slice(0, length);
}

/** inflateZlib decoded as UTF-8 (malformed sequences replaced), with no output buffer of its own. */
export function inflateZlibText(input: Uint8Array, maxOutput: number): string {
  const length = inflateIntoScratch(input, maxOutput);
  return utf8.decode(scratch.subarray(0, length));
}

const utf8 = new TextDecoder();
// Inflating is synchronous: one output buffer serves every call (grown up to the largest maxOutput).
let scratch = new Uint8Array(4096);

/** Inflates into `scratch`; returns the output's length. */
function inflateIntoScratch(input: Uint8Array, maxOutput: number): number {
  if (input.length < 6) throw new InflateError("too short");
  const cmf = input[0] ?? 0;
  const flg = input[1] ?? 0;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0 || flg & 0x20) {
    throw new InflateError("bad zlib header");
  }
  const r = new Reader(input, 2, maxOutput);
  let last: number;
  do {
    last = r.bits(1);
    const type = r.bits(2);
    if (type === 0) r.stored();
    else if (type === 1) r.codes(FIXED_LITERALS, FIXED_DISTANCES);
    else if (type === 2) r.dynamic();
    else throw new InflateError("bad block type");
  } while (!last);
  const out = r.output();
  // Adler-32 of the output, big-endian, on the byte boundary after the last block.
  const at = r.byteEnd();
  if (at + 4 > input.length) throw new InflateError("no checksum");
  const expected =
    (((input[at] ?? 0) << 24) | ((input[at + 1] ?? 0) << 16) | ((input[at + 2] ?? 0) << 8)) +
    (input[at + 3] ?? 0);
  if (adler32(out) !== expected >>> 0) throw new InflateError("bad checksum");
  return out.length;
}

export class InflateError extends Error {}

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

const newHuffman = (n: number): Huffman => ({
  counts: new Uint16Array(16),
  symbols: new Uint16Array(n),
});

/** Fills `h` with the code of the first `n` of `lengths`. */
function build(h: Huffman, lengths: Uint8Array, n: number): Huffman {
  const { counts, symbols } = h;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const len = lengths[i] ?? 0;
    counts[len] = (counts[len] ?? 0) + 1;
  }
  counts[0] = 0;
  offsets[1] = 0;
  for (let len = 1; len < 15; len++) offsets[len + 1] = (offsets[len] ?? 0) + (counts[len] ?? 0);
  for (let i = 0; i < n; i++) {
    const len = lengths[i] ?? 0;
    if (len === 0) continue;
    const at = offsets[len] ?? 0;
    symbols[at] = i;
    offsets[len] = at + 1;
  }
  return h;
}

// Scratch for dynamic blocks: inflating is synchronous, so one set serves every call.
const offsets = new Uint16Array(16);
const codeLengthLengths = new Uint8Array(19);
const dynamicLengths = new Uint8Array(286 + 30);
const codeLengthCode = newHuffman(19);
const dynamicLiterals = newHuffman(286);
const dynamicDistances = newHuffman(30);

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
];
const LENGTH_EXTRA = [
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
/** The order code-length code lengths come in (RFC 1951 3.2.7). */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const FIXED_LITERALS = build(
  newHuffman(288),
  Uint8Array.from({ length: 288 }, (_, i) => (i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8)),
  288,
);
const FIXED_DISTANCES = build(newHuffman(30), new Uint8Array(30).fill(5), 30);

class Reader {
  private pos: number;
  private bitBuf = 0;
  private bitCount = 0;
  private out: Uint8Array;
  private length = 0;

  constructor(
    private readonly input: Uint8Array,
    start: number,
    private readonly maxOutput: number,
  ) {
    this.pos = start;
    this.out = scratch;
  }

  bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.input.length) throw new InflateError("unexpected end");
      this.bitBuf |= (this.input[this.pos++] ?? 0) << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }

  /** Where the byte-aligned data after the last block starts. */
  byteEnd(): number {
    return this.pos - (this.bitCount >> 3);
  }

  output(): Uint8Array {
    return this.out.subarray(0, this.length);
  }

  private push(byte: number): void {
    this.reserve(1);
    this.out[this.length++] = byte;
  }

  /** Room for `n` more bytes, within maxOutput. */
  private reserve(n: number): void {
    const need = this.length + n;
    if (need > this.maxOutput) throw new InflateError("output too large");
    if (need <= this.out.length) return;
    const next = new Uint8Array(Math.min(this.maxOutput, Math.max(need, this.out.length * 2)));
    next.set(this.out.subarray(0, this.length));
    this.out = next;
    scratch = next;
  }

  stored(): void {
    this.bitBuf = 0;
    this.bitCount = 0;
    const { input } = this;
    if (this.pos + 4 > input.length) throw new InflateError("unexpected end");
    const len = (input[this.pos] ?? 0) | ((input[this.pos + 1] ?? 0) << 8);
    const nlen = (input[this.pos + 2] ?? 0) | ((input[this.pos + 3] ?? 0) << 8);
    if ((len ^ 0xffff) !== nlen) throw new InflateError("bad stored block");
    this.pos += 4;
    if (this.pos + len > input.length) throw new InflateError("unexpected end");
    this.reserve(len);
    this.out.set(input.subarray(this.pos, this.pos + len), this.length);
    this.length += len;
    this.pos += len;
  }

  private decode(h: Huffman): number {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.counts[len] ?? 0;
      if (code - count < first) return h.symbols[index + (code - first)] ?? 0;
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw new InflateError("bad code");
  }

  codes(literals: Huffman, distances: Huffman): void {
    for (;;) {
      const sym = this.decode(literals);
      if (sym < 256) {
        this.push(sym);
        continue;
      }
      if (sym === 256) return;
      const li = sym - 257;
      if (li >= 29) throw new InflateError("bad length code");
      const len = (LENGTH_BASE[li] ?? 0) + this.bits(LENGTH_EXTRA[li] ?? 0);
      const di = this.decode(distances);
      if (di >= 30) throw new InflateError("bad distance code");
      const dist = (DIST_BASE[di] ?? 0) + this.bits(DIST_EXTRA[di] ?? 0);
      if (dist > this.length) throw new InflateError("distance too far back");
      this.reserve(len);
      for (let i = 0; i < len; i++, this.length++) {
        this.out[this.length] = this.out[this.length - dist] ?? 0;
      }
    }
  }

  dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw new InflateError("bad code counts");
    const clLengths = codeLengthLengths.fill(0);
    for (let i = 0; i < ncode; i++) clLengths[CL_ORDER[i] ?? 0] = this.bits(3);
    const cl = build(codeLengthCode, clLengths, 19);
    const lengths = dynamicLengths.fill(0);
    for (let i = 0; i < nlen + ndist; ) {
      const sym = this.decode(cl);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let repeat: number;
      let value = 0;
      if (sym === 16) {
        if (i === 0) throw new InflateError("repeat with no previous length");
        value = lengths[i - 1] ?? 0;
        repeat = 3 + this.bits(2);
      } else if (sym === 17) repeat = 3 + this.bits(3);
      else repeat = 11 + this.bits(7);
      if (i + repeat > nlen + ndist) throw new InflateError("too many lengths");
      lengths.fill(value, i, i + repeat);
      i += repeat;
    }
    if (lengths[256] === 0) throw new InflateError("no end-of-block code");
    this.codes(
      build(dynamicLiterals, lengths, nlen),
      build(dynamicDistances, lengths.subarray(nlen), ndist),
    );
  }
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; ) {
    // 5552 bytes at most between reductions keeps the sums below 2^32.
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i] ?? 0;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
