/** What a provider answered for one notification to one device. */
export type SendOutcome =
  | { kind: "sent" }
  /** The token is dead (uninstalled, expired, malformed): remove the registration. */
  | { kind: "invalid-token"; reason: string }
  /** Worth another try (429, 5xx, a dropped connection, a refreshed credential). */
  | { kind: "retry"; reason: string; retryAfterMs?: number }
  /** Will fail the same way again (other 4xx): given up at once. */
  | { kind: "failed"; reason: string };

/**
 * Parses an HTTP Retry-After value (delta seconds or an HTTP date) into a
 * delay in ms from `nowMs`; undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
