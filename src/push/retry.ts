import type { SendOutcome } from "./provider.js";

export interface RetryPolicy {
  /** Tries per notification, the first included. */
  maxAttempts: number;
  /** Delay before the second try; doubles per try. */
  backoffMs: number;
  /** Cap on any one delay, a provider's Retry-After included. */
  maxBackoffMs: number;
}

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends until the provider answers something other than "retry" or the tries
 * run out (the last retry answer is returned). Waits the provider's
 * Retry-After when it gave one, else an exponential backoff.
 */
export async function sendWithRetry(
  send: () => Promise<SendOutcome>,
  policy: RetryPolicy,
  sleep: Sleep = realSleep,
): Promise<{ outcome: SendOutcome; attempts: number; waitedMs: number[] }> {
  const waitedMs: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const outcome = await send();
    if (outcome.kind !== "retry" || attempt >= policy.maxAttempts) {
      return { outcome, attempts: attempt, waitedMs };
    }
    const backoff = policy.backoffMs * 2 ** (attempt - 1);
    const wait = Math.min(outcome.retryAfterMs ?? backoff, policy.maxBackoffMs);
    waitedMs.push(wait);
    await sleep(wait);
  }
}
