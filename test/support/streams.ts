import { createClient } from "@connectrpc/connect";
import type { SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { EventService, Platform } from "../../src/gen/im/v1/events_pb.js";
import type { Message } from "../../src/gen/im/v1/message_pb.js";
import { type Protocol, sigFor, transportFor } from "./clients.js";

export interface OpenStream {
  /** Every event received so far, Ready first. */
  events: SubscribeResponse[];
  /** Messages received so far. */
  messages(): Message[];
  /** Resolves with the first event (past or future) matching, or rejects after `timeoutMs`. */
  waitFor(match: (e: SubscribeResponse) => boolean, timeoutMs?: number): Promise<SubscribeResponse>;
  /** Waits until `count` messages arrived. */
  waitForMessages(count: number, timeoutMs?: number): Promise<Message[]>;
  /** Resolves when the server ends the stream; with the error if it ended with one. */
  ended: Promise<Error | undefined>;
  close(): void;
}

let devices = 0;

/**
 * Opens a device stream and resolves once it is live (Ready received). Each
 * call is a new device unless `deviceId` is given; `sig` defaults to a fresh one.
 */
export async function openStream(
  baseUrl: string,
  userId: string,
  deviceId = `device-${++devices}`,
  protocol: Protocol = "connect-h2",
  sig: string = sigFor(userId),
  platform: Platform = Platform.UNSPECIFIED,
): Promise<OpenStream> {
  const abort = new AbortController();
  const events: SubscribeResponse[] = [];
  const waiters = new Set<() => void>();
  let endedWith: { error: Error | undefined } | undefined;
  const notify = () => {
    for (const w of waiters) w();
  };
  const stream = createClient(EventService, transportFor(protocol, baseUrl, sig)).subscribe(
    { deviceId, platform },
    { signal: abort.signal },
  );
  const ended = (async () => {
    let error: Error | undefined;
    try {
      for await (const event of stream) {
        events.push(event);
        notify();
      }
    } catch (err) {
      if (!abort.signal.aborted) error = err as Error;
    }
    endedWith = { error };
    notify();
    return error;
  })();
  const waitFor: OpenStream["waitFor"] = (match, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(match);
        if (found === undefined) {
          // A stream that ended cannot produce the event any more.
          if (endedWith === undefined) return false;
          waiters.delete(check);
          clearTimeout(timer);
          reject(endedWith.error ?? new Error("stream ended without a matching event"));
          return true;
        }
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event.case).join(",")}`,
          ),
        );
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  const messages = () => events.flatMap((e) => (e.event.case === "message" ? [e.event.value] : []));
  await waitFor((e) => e.event.case === "ready");
  return {
    events,
    messages,
    waitFor,
    async waitForMessages(count, timeoutMs = 5000) {
      await waitFor(() => messages().length >= count, timeoutMs);
      return messages();
    },
    ended,
    close: () => abort.abort(),
  };
}
