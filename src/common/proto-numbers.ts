import { invalidField } from "../errors/domain-error.js";

/**
 * Seqs and times are stored as exact integers below 2^53 (MongoDB doubles, JS
 * numbers); the contract's uint64/int64 fields carry them. A request value the
 * server could not represent exactly is refused rather than rounded: no seq the
 * server hands out can reach it, and a rounded bound would answer a different
 * question than the one asked.
 */
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** A seq (or seq bound) from a request, exactly, or INVALID_FIELD naming `field`. */
export function seqFromRequest(value: bigint, field: string): number {
  if (value < 0n || value > MAX_EXACT) {
    throw invalidField(field, `must be between 0 and ${MAX_EXACT}`);
  }
  return Number(value);
}

/** A time in ms from a request, exactly, or INVALID_FIELD naming `field`. */
export const timeMsFromRequest = seqFromRequest;
