/**
 * Retries `check` until it stops throwing (e.g. an `expect`), for state that
 * asynchronous fan-out updates; rethrows the last failure after `timeoutMs`.
 * The default is a hang guard, not an expectation: a loaded machine may take
 * seconds for what takes milliseconds on an idle one.
 */
export async function eventually<T>(
  check: () => Promise<T>,
  timeoutMs = 30_000,
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
