import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { EventService, Platform, SubscribeRequestSchema } from "../src/gen/im/v1/events_pb.js";
import { goReceiverBinary } from "./go-receiver-build.js";
import { type Receivers, readyWithin } from "./receivers.js";

/** Streams opened at once, as bench/receivers.ts does. */
const WAVE = 500;
const EXIT_TIMEOUT_MS = 10_000;

/** Where a delivery is reported: its message id and arrival time (performance.now()). */
export interface TimedTracker {
  delivered(id: string, at: number): void;
}

type ReceiverLine =
  | { t: "d"; d: [id: string, count: number, firstNs: number, lastNs: number][] }
  | { t: "ready"; streams: number; ms: number }
  | { t: "end"; stream: number; reason: string };

/**
 * The same live streams as openReceivers (one gRPC Subscribe per user, over
 * `connections` HTTP/2 connections, resolved once every one said Ready), held
 * by bench/receiver-go in its own process. It stamps each delivery with the
 * moment it read it (CLOCK_MONOTONIC, which is performance.now()'s clock too),
 * so batching its reports costs no latency.
 */
export async function openGoReceivers(options: {
  baseUrl: string;
  connections: number;
  userIds: string[];
  headersOf: (userId: string) => Record<string, string>;
  tracker: TimedTracker;
  readyTimeoutMs: number;
}): Promise<Receivers & { pid: number }> {
  const { userIds, tracker } = options;
  const binary = await goReceiverBinary();
  const child = spawn(binary, [], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = once(child, "exit");
  // Both clocks are CLOCK_MONOTONIC; performance.now() only starts at another origin.
  const originMs = performance.now() - Number(process.hrtime.bigint()) / 1e6;
  const toNow = (ns: number) => ns / 1e6 + originMs;

  let failed = 0;
  let firstFailure: string | undefined;
  let closing = false;
  let markReady: () => void = () => {};
  let markFailed: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  const fail = (reason: string) => {
    if (closing) return;
    failed++;
    firstFailure ??= reason;
    markFailed(new Error(reason));
  };

  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = JSON.parse(text) as ReceiverLine;
    if (line.t === "d") {
      for (const [id, count, first, last] of line.d) {
        // One report per id per flush: the first arrival, then the rest at the last.
        tracker.delivered(id, toNow(first));
        const at = toNow(last);
        for (let k = 1; k < count; k++) tracker.delivered(id, at);
      }
    } else if (line.t === "ready") markReady();
    else if (line.t === "end") fail(`${userIds[line.stream] ?? line.stream}: ${line.reason}`);
  });
  void exited.then(
    ([code]) => fail(`receiver-go exited (${code})`),
    (err: Error) => fail(`receiver-go: ${err.message}`),
  );

  const path = `/${EventService.typeName}/${EventService.method.subscribe.name}`;
  const request = encodeEnvelope(
    0,
    toBinary(
      SubscribeRequestSchema,
      create(SubscribeRequestSchema, { platform: Platform.SERVER, deviceId: "bench" }),
    ),
  );
  const config = {
    addr: new URL(options.baseUrl).host,
    path,
    request: Buffer.from(request).toString("base64"),
    connections: options.connections,
    wave: WAVE,
    streams: userIds.map((u) => options.headersOf(u)),
  };
  child.stdin.write(`${JSON.stringify(config)}\n`);

  const close = async () => {
    closing = true;
    // Stdin's end is the receiver's signal to stop.
    child.stdin.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_TIMEOUT_MS);
    await exited.catch(() => {});
    clearTimeout(timer);
  };
  try {
    await readyWithin(ready, options.readyTimeoutMs);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    pid: child.pid ?? 0,
    failures: () => ({ count: failed, first: firstFailure }),
    close,
  };
}
