/** The reference's relation check kinds, from A (the caller) to B. */
export type CheckResult = "no-relation" | "a-with-b" | "b-with-a" | "both-way";

/**
 * Combines the two directions. A single check only looks at A's side, so it
 * answers no-relation or a-with-b whatever B has.
 */
export function checkResult(aHasB: boolean, bHasA: boolean, both: boolean): CheckResult {
  if (!both) return aHasB ? "a-with-b" : "no-relation";
  if (aHasB) return bHasA ? "both-way" : "a-with-b";
  return bHasA ? "b-with-a" : "no-relation";
}
