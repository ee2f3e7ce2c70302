/**
 * `s` as one flat string. V8 keeps a concatenation (a template literal, and
 * crypto.randomUUID's result, built from 16 pieces) as a tree of 32-byte rope
 * nodes over its pieces: a UUID kept per open stream costs ~600 bytes instead
 * of ~56. normalize() returns the text unchanged for ASCII (ids, subjects,
 * keys: the only strings to pass here) and flat.
 */
export const flat = (s: string): string => s.normalize();
