import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { eventually } from "../../test/support/eventually.js";
import { createMemoryBus } from "../bus/memory-bus.js";
import { createMemoryHub } from "../bus/memory-hub.js";
import { type DomainError, ErrorReason } from "../errors/domain-error.js";
import { Platform, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import { silentLogger } from "../log/logger.js";
import { createLiveHub, type LiveEvent, type LiveSink, type StreamOwner } from "./live-hub.js";

// The hub-driven stream (LiveHub.open) that the server's writer uses: the hub
// writes to a sink object, coalesces what queued while the sink was full,
// ends a reader too far behind, and sends keep-alives from one timer.

const tip = (n: number) =>
  create(SubscribeResponseSchema, {
    event: { case: "keepAlive", value: { serverTimeMs: BigInt(n) } },
  });

const owner = (userId: string, deviceId = "phone"): StreamOwner => ({
  userId,
  deviceId,
  platform: Platform.UNSPECIFIED,
  sigIssuedAtMs: 0,
  sigExpiresAtMs: Number.MAX_SAFE_INTEGER,
});

/** A sink that records each write as one entry and reports itself full while `full`. */
function recordingSink() {
  const writes: string[][] = [];
  let ended: DomainError | undefined;
  const sink: LiveSink & { full: boolean } = {
    full: false,
    write(events: readonly LiveEvent[]) {
      writes.push(
        events.map((e) =>
          e.message.event.case === "keepAlive"
            ? `t${e.message.event.value.serverTimeMs}`
            : (e.message.event.case ?? "?"),
        ),
      );
      return !sink.full;
    },
    end(error) {
      ended = error;
    },
  };
  return { sink, writes, ended: () => ended };
}

function hub(keepAliveMs = 600_000) {
  return createLiveHub({
    bus: createMemoryBus({ clock: Date.now, logger: silentLogger, hub: createMemoryHub() }),
    // A fixed clock: keep-alives show as t0, tips keep their own numbers.
    clock: () => 0,
    logger: silentLogger,
    keepAliveMs,
    maxQueuedEvents: 5,
    maxStreamsPerUser: 10,
    authorityCheckMs: 1000,
  });
}

describe("a hub-driven stream", () => {
  it("writes Ready first, then each event; while the sink is full, events queue and go out in one write", async () => {
    const h = hub();
    const { sink, writes } = recordingSink();
    const handle = await h.open(owner("ann"), sink);
    expect(writes).toEqual([["ready"]]);
    h.publishToUser("ann", tip(1));
    await eventually(async () => expect(writes).toEqual([["ready"], ["t1"]]));
    sink.full = true;
    h.publishToUser("ann", tip(2)); // written, and the sink says it is full
    await eventually(async () => expect(writes.length).toBe(3));
    for (const n of [3, 4, 5]) h.publishToUser("ann", tip(n));
    // The in-process bus delivers in microtasks: all three are queued after one turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.length).toBe(3);
    sink.full = false;
    h.resume(handle);
    await eventually(async () =>
      expect(writes).toEqual([["ready"], ["t1"], ["t2"], ["t3", "t4", "t5"]]),
    );
    h.close(handle);
    expect(h.openStreams()).toBe(0);
  });

  it("ends a reader that stays full past the queue limit with STREAM_OVERFLOW, once", async () => {
    const h = hub();
    const rec = recordingSink();
    rec.sink.full = true;
    await h.open(owner("ann"), rec.sink); // Ready fills it
    for (let n = 1; n <= 6; n++) h.publishToUser("ann", tip(n));
    await eventually(async () => expect(rec.ended()?.reason).toBe(ErrorReason.STREAM_OVERFLOW));
    expect(rec.writes).toEqual([["ready"]]);
    expect(h.openStreams()).toBe(0);
  });

  it("sends keep-alives to a quiet stream, from the hub's one timer", async () => {
    const h = hub(100);
    const quiet = recordingSink();
    const handle = await h.open(owner("ann"), quiet.sink);
    await eventually(async () =>
      expect(quiet.writes.filter((w) => w[0] === "t0").length).toBeGreaterThanOrEqual(2),
    );
    h.close(handle);
  });

  it("refuses a stream replaced while it opens, having written nothing", async () => {
    const h = hub();
    const first = recordingSink();
    const opening = h.open(owner("ann"), first.sink);
    const second = recordingSink();
    await h.open(owner("ann"), second.sink);
    await expect(opening).rejects.toMatchObject({ reason: ErrorReason.STREAM_REPLACED });
    expect(first.writes).toEqual([]);
    expect(h.openStreams()).toBe(1);
  });
});
