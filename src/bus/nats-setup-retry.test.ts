import { JetStreamApiError } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../log/logger.js";
import { retrySetup } from "./nats-setup-retry.js";

const unavailable = () =>
  new JetStreamApiError({ code: 503, err_code: 10008, description: "temporarily unavailable" });

/** A set-up failing with the given errors in turn, then answering "ok". */
function failingWith(...errors: Error[]) {
  const calls = { count: 0 };
  const setUp = async () => {
    const err = errors[calls.count++];
    if (err !== undefined) throw err;
    return "ok";
  };
  return { calls, setUp };
}

describe("JetStream set-up at start", () => {
  it("tries again after a timeout or a 503 until it succeeds", async () => {
    const { calls, setUp } = failingWith(new TimeoutError(), unavailable(), new TimeoutError());
    const timing = { budgetMs: 10_000, waitMs: 1 };
    await expect(retrySetup(setUp, silentLogger, timing)).resolves.toBe("ok");
    expect(calls.count).toBe(4);
  });

  it("gives up at once on a final error", async () => {
    const notFound = new JetStreamApiError({ code: 404, err_code: 10059, description: "no" });
    const { calls, setUp } = failingWith(notFound);
    const timing = { budgetMs: 10_000, waitMs: 1 };
    await expect(retrySetup(setUp, silentLogger, timing)).rejects.toBe(notFound);
    expect(calls.count).toBe(1);
  });

  it("gives up with the last error once its budget is spent", async () => {
    const errors = Array.from({ length: 1_000 }, () => new TimeoutError());
    const { calls, setUp } = failingWith(...errors);
    // 50 tries at most: a stall of the first try past its budget less one wait (490 ms,
    // not 40) is what it takes to see a single try on a busy machine.
    const timing = { budgetMs: 500, waitMs: 10 };
    const failure = await retrySetup(setUp, silentLogger, timing).catch((err: unknown) => err);
    expect(calls.count).toBeGreaterThan(1);
    expect(calls.count).toBeLessThan(1_000);
    expect(failure).toBe(errors[calls.count - 1]);
  });
});
