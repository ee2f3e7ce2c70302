import { setMaxListeners } from "node:events";
import { type Client, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { EventService, Platform } from "../src/gen/im/v1/events_pb.js";
import type { Tracker } from "./tracker.js";

/** Streams opened at once. */
const WAVE = 500;

export interface Receivers {
  /** Streams that ended while they should have stayed open, with the first reason. */
  failures(): { count: number; first: string | undefined };
  close(): Promise<void>;
}

/**
 * Opens one live event stream per receiver (spread over the transports) and
 * resolves once every one has said Ready, i.e. is subscribed on the server.
 * Each message event (one-to-one or group) is reported to the tracker by its
 * client message id the moment it is read.
 */
export async function openReceivers(options: {
  userIds: string[];
  headersOf: (userId: string) => Record<string, string>;
  transports: Transport[];
  tracker: Pick<Tracker, "delivered">;
  readyTimeoutMs: number;
}): Promise<Receivers> {
  const { userIds, transports, tracker } = options;
  const clients: Client<typeof EventService>[] = transports.map((t) =>
    createClient(EventService, t),
  );
  const abort = new AbortController();
  // Every stream listens on this one signal; hundreds of listeners are expected, not a leak.
  setMaxListeners(0, abort.signal);
  let failed = 0;
  let firstFailure: string | undefined;
  const ended: Promise<void>[] = [];
  const ready: Promise<void>[] = [];

  const openOne = (userId: string, i: number) => {
    const client = clients[i % clients.length];
    if (client === undefined) throw new Error("no transports");
    let markReady: () => void = () => {};
    let markFailed: (err: Error) => void = () => {};
    ready.push(
      new Promise<void>((resolve, reject) => {
        markReady = resolve;
        markFailed = reject;
      }),
    );
    const stream = client.subscribe(
      { platform: Platform.SERVER, deviceId: "bench" },
      { headers: options.headersOf(userId), signal: abort.signal },
    );
    ended.push(
      (async () => {
        try {
          for await (const response of stream) {
            const event = response.event;
            if (event.case === "message") tracker.delivered(event.value.clientMessageId);
            else if (event.case === "groupMessage") tracker.delivered(event.value.clientMessageId);
            else if (event.case === "ready") markReady();
          }
          if (!abort.signal.aborted) throw new Error("stream ended by the server");
        } catch (err) {
          if (abort.signal.aborted) return;
          failed++;
          firstFailure ??= `${userId}: ${ConnectError.from(err).message}`;
          markFailed(err as Error);
        }
      })(),
    );
  };

  // In waves, each once the previous said Ready: thousands of calls started at
  // once hold the loop so long that the connections' own establishment times out.
  const opened = (async () => {
    for (let from = 0; from < userIds.length; from += WAVE) {
      for (let i = from; i < Math.min(from + WAVE, userIds.length); i++) {
        openOne(userIds[i] ?? "", i);
      }
      await Promise.all(ready.slice(from));
    }
  })();

  try {
    await readyWithin(opened, options.readyTimeoutMs);
  } catch (err) {
    abort.abort();
    throw err;
  }

  return {
    failures: () => ({ count: failed, first: firstFailure }),
    async close() {
      abort.abort();
      await Promise.all(ended);
    },
  };
}

/**
 * Resolves with `ready`, or rejects once `timeoutMs` passed first; the timer is
 * cleared either way. Shared by the in-process and the Go receivers.
 */
export async function readyWithin(ready: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`receiver streams not ready within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
