/**
 * Retries `check` until it stops throwing (e.g. an `expect`), for state that
 * asynchronous fan-out updates; rethrows the last failure after `timeoutMs`.
 */
export async function eventually<T>(
  check: () => Promise<T>,
  timeoutMs = 5000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}
