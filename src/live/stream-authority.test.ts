import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryBus } from "../bus/memory-bus.js";
import { createMemoryHub } from "../bus/memory-hub.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import {
  Platform,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../gen/im/v1/events_pb.js";
import { silentLogger } from "../log/logger.js";
import { createLiveHub, type LiveHub, type StreamOwner } from "./live-hub.js";

// Stream registry (one stream per device, a cap per user) and stream authority
// (expiry, revocation, deletion), on two hubs sharing one in-process bus, as
// two nodes. Nothing here sleeps: a stream's end is awaited, and a stream's
// survival is shown by an event published after the change reaching it.

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;

const tip = (n: number): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: { case: "keepAlive", value: { serverTimeMs: BigInt(n) } },
  });

interface Device {
  /** Resolves when the server ends the stream: with its error, or undefined if it just closed. */
  ended: Promise<DomainError | undefined>;
  /** Resolves with the first event after Ready whose serverTimeMs is `n`. */
  received(n: number): Promise<void>;
  close(): void;
}

const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
});

const owner = (userId: string, deviceId: string, sig: Partial<StreamOwner> = {}): StreamOwner => ({
  userId,
  deviceId,
  platform: Platform.UNSPECIFIED,
  sigIssuedAtMs: T0 - HOUR,
  sigExpiresAtMs: T0 + HOUR,
  ...sig,
});

/** Starts a stream; its first step (registration) runs before this returns. */
function start(hub: LiveHub, who: StreamOwner): Device & { ready: Promise<void> } {
  const abort = new AbortController();
  aborts.push(abort);
  const stream = hub.stream(who, abort.signal);
  const seen = new Set<number>();
  const waiting = new Map<number, () => void>();
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const first = stream.next();
  const ended = (async (): Promise<DomainError | undefined> => {
    try {
      const r = await first;
      if (r.value?.event.case !== "ready") throw new Error("first event is not Ready");
      onReady();
      for await (const e of stream) {
        if (e.event.case !== "keepAlive") continue;
        const n = Number(e.event.value.serverTimeMs);
        seen.add(n);
        waiting.get(n)?.();
      }
      return undefined;
    } catch (err) {
      if (err instanceof DomainError) return err;
      throw err;
    }
  })();
  return {
    ready,
    ended,
    received: (n) =>
      seen.has(n)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiting.set(n, resolve)),
            ended.then((err) => {
              throw new Error(`stream ended before event ${n}: ${err?.message ?? "closed"}`);
            }),
          ]),
    close: () => abort.abort(),
  };
}

/** Opens a stream and resolves once it is live (Ready received). */
async function open(hub: LiveHub, who: StreamOwner): Promise<Device> {
  const device = start(hub, who);
  await Promise.race([
    device.ready,
    device.ended.then((err) => {
      throw err ?? new Error("stream closed before Ready");
    }),
  ]);
  return device;
}

const reasonOf = async (device: { ended: Promise<DomainError | undefined> }) => {
  const err = await device.ended;
  return err === undefined ? "closed" : `${err.kind} ${ErrorReason[err.reason]}`;
};

/** Two nodes; by default their clock ticks 1 ms per reading, as a real one moves on. */
function twoNodes(opts: { maxStreamsPerUser?: number; clock?: () => number } = {}) {
  const busHub = createMemoryHub();
  let tick = 0;
  const node = () =>
    createLiveHub({
      bus: createMemoryBus({ clock: Date.now, logger: silentLogger, hub: busHub }),
      clock: opts.clock ?? (() => T0 + tick++),
      logger: silentLogger,
      keepAliveMs: 60_000,
      maxQueuedEvents: 100,
      maxStreamsPerUser: opts.maxStreamsPerUser ?? 10,
      authorityCheckMs: 10,
    });
  return [node(), node()] as const;
}

describe("one stream per device", () => {
  it("replaces a device's stream on the same node; the old one ends Aborted with STREAM_REPLACED", async () => {
    const [a] = twoNodes();
    const first = await open(a, owner("ann", "phone"));
    const tablet = await open(a, owner("ann", "tablet"));
    const second = await open(a, owner("ann", "phone"));
    expect(await reasonOf(first)).toBe("aborted STREAM_REPLACED");
    a.publishToUser("ann", tip(1));
    await second.received(1);
    await tablet.received(1);
    expect(a.openStreams()).toBe(2);
  });

  it("replaces a device's stream held by another node", async () => {
    const [a, b] = twoNodes();
    const onA = await open(a, owner("ann", "phone"));
    const otherOnA = await open(a, owner("ann", "web"));
    const onB = await open(b, owner("ann", "phone"));
    expect(await reasonOf(onA)).toBe("aborted STREAM_REPLACED");
    expect(a.openStreams()).toBe(1);
    b.publishToUser("ann", tip(1));
    await onB.received(1);
    await otherOnA.received(1);
  });

  it("keeps exactly one of two streams of a device opened at the same instant on two nodes", async () => {
    const [a, b] = twoNodes({ clock: () => T0 });
    // Both register before either node hears of the other, at the same clock reading.
    const onA = start(a, owner("ann", "phone"));
    const onB = start(b, owner("ann", "phone"));
    const loser = await Promise.race([onA.ended.then(() => onA), onB.ended.then(() => onB)]);
    expect(await reasonOf(loser)).toBe("aborted STREAM_REPLACED");
    const winner = loser === onA ? onB : onA;
    await winner.ready;
    a.publishToUser("ann", tip(1));
    await winner.received(1);
    expect(a.openStreams() + b.openStreams()).toBe(1);
  });

  it("refuses a user's device past the per-user cap with STREAM_LIMIT_REACHED, but not a reconnect", async () => {
    const [a] = twoNodes({ maxStreamsPerUser: 2 });
    const phone = await open(a, owner("ann", "phone"));
    await open(a, owner("ann", "web"));
    const third = start(a, owner("ann", "tablet"));
    expect(await reasonOf(third)).toBe("resource-exhausted STREAM_LIMIT_REACHED");
    // Another user has a cap of their own; the same device reconnecting replaces itself.
    await open(a, owner("bob", "phone"));
    const phoneAgain = await open(a, owner("ann", "phone"));
    expect(await reasonOf(phone)).toBe("aborted STREAM_REPLACED");
    expect(a.openStreams()).toBe(3);
    // A device that leaves frees its place.
    phoneAgain.close();
    await phoneAgain.ended;
    await open(a, owner("ann", "tablet"));
  });
});

describe("a reader too far behind", () => {
  it("leaves the registry at once and ends with STREAM_OVERFLOW when it reads next", async () => {
    const [a] = twoNodes(); // 100 events may queue
    const abort = new AbortController();
    aborts.push(abort);
    const slow = a.stream(owner("ann", "phone"), abort.signal);
    expect((await slow.next()).value?.event.case).toBe("ready");
    const witness = await open(a, owner("bob", "phone"));
    for (let n = 1; n <= 101; n++) a.publishToUser("ann", tip(n));
    a.publishToUser("bob", tip(1)); // delivered after ann's 101
    await witness.received(1);
    expect(a.openStreams()).toBe(1);
    await expect(slow.next()).rejects.toMatchObject({ reason: ErrorReason.STREAM_OVERFLOW });
  });
});

describe("streams follow the account's authority", () => {
  it("ends streams with sigs issued before an invalidation, on every node, with SIG_REVOKED", async () => {
    const [a, b] = twoNodes();
    const onA = await open(a, owner("ann", "phone", { sigIssuedAtMs: T0 - 2000 }));
    const onB = await open(b, owner("ann", "web", { sigIssuedAtMs: T0 - 1000 }));
    const newer = await open(b, owner("ann", "tablet", { sigIssuedAtMs: T0 }));
    const bob = await open(a, owner("bob", "phone"));
    a.sigsInvalidated("ann", T0 - 1000);
    expect(await reasonOf(onA)).toBe("unauthenticated SIG_REVOKED");
    expect(await reasonOf(onB)).toBe("unauthenticated SIG_REVOKED");
    a.publishToUsers(["ann", "bob"], tip(1));
    await newer.received(1);
    await bob.received(1);
    expect(a.openStreams() + b.openStreams()).toBe(2);
  });

  it("ends every stream of deleted accounts, on every node, with ACCOUNT_NOT_FOUND", async () => {
    const [a, b] = twoNodes();
    const annA = await open(a, owner("ann", "phone"));
    const annB = await open(b, owner("ann", "web", { sigIssuedAtMs: T0 + 60_000 }));
    const cyd = await open(b, owner("cyd", "phone"));
    const bob = await open(a, owner("bob", "phone"));
    b.accountsDeleted(["ann", "cyd"], T0);
    for (const d of [annA, annB, cyd]) {
      expect(await reasonOf(d)).toBe("unauthenticated ACCOUNT_NOT_FOUND");
    }
    a.publishToUser("bob", tip(1));
    await bob.received(1);
  });

  it("refuses a stream whose sig was revoked after it authenticated but before it registered", async () => {
    const [a, b] = twoNodes();
    const watcher = await open(b, owner("bob", "phone"));
    a.sigsInvalidated("ann", T0 - 1000);
    a.publishToUser("bob", tip(1));
    await watcher.received(1); // b has heard of the revocation
    const late = start(b, owner("ann", "phone", { sigIssuedAtMs: T0 - 5000 }));
    expect(await reasonOf(late)).toBe("unauthenticated SIG_REVOKED");
    // A sig issued after the invalidation still opens a stream.
    await open(b, owner("ann", "phone", { sigIssuedAtMs: T0 }));
  });

  it("ends a stream once its sig expires (injected clock), and no other", async () => {
    let now = T0;
    const [a, b] = twoNodes({ clock: () => now });
    const soon = await open(a, owner("ann", "phone", { sigExpiresAtMs: T0 + 60_000 }));
    const later = await open(a, owner("ann", "web", { sigExpiresAtMs: T0 + HOUR }));
    const elsewhere = await open(b, owner("bob", "phone", { sigExpiresAtMs: T0 + 30_000 }));
    now = T0 + 61_000; // past the whole second of its expiry (see sigExpired)
    expect(await reasonOf(soon)).toBe("unauthenticated SIG_EXPIRED");
    expect(await reasonOf(elsewhere)).toBe("unauthenticated SIG_EXPIRED");
    a.publishToUser("ann", tip(1));
    await later.received(1);
    expect(a.openStreams()).toBe(1);
    // A sig already expired cannot open a stream.
    const stale = start(a, owner("ann", "tablet", { sigExpiresAtMs: T0 }));
    expect(await reasonOf(stale)).toBe("unauthenticated SIG_EXPIRED");
  });
});
