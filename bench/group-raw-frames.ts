import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTransportPool } from "./clients.js";
import type { GroupOptions } from "./group-options.js";
import {
  type GroupPhaseContext,
  type GroupPhaseResult,
  runAtRate,
  runPaced,
} from "./group-phase.js";
import { openGroupReceivers } from "./group-receivers.js";
import type { GroupSender } from "./group-sender.js";
import type { BenchGroup } from "./group-setup.js";
import type { GroupTracker } from "./group-tracker.js";

const SERVER_SCRIPT = fileURLToPath(new URL("./raw-frame-child.ts", import.meta.url));

/** The raw baseline's unloaded probe and fixed-rate load, as the server's phases. */
export interface RawFramesRun {
  paced: GroupPhaseResult;
  loaded: GroupPhaseResult;
}

/**
 * The raw pre-encoded-frame baseline of a group phase, in the same run: a bare
 * node:http2 server (bench/raw-frame-child.ts, its own process) holding as many
 * gRPC Subscribe streams over as many connections as the server's phase, writing
 * each message as one frame made once to every stream. The same load generator,
 * tracker, rate and window as the server's phase, so deliveries/s are comparable;
 * its unloaded probe is the floor of send->last member for these receivers.
 */
export async function runRawFrames(
  options: GroupOptions,
  group: BenchGroup,
  phase: { rate: number; log: (line: string) => void },
): Promise<RawFramesRun> {
  const child = fork(SERVER_SCRIPT, [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (m) => resolve((m as { port: number }).port));
      child.once("exit", (code) => reject(new Error(`raw frame server exited (${code})`)));
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    const size = group.memberIds.length;
    phase.log(`[${size}] raw frames: ${size} streams over ${options.connections} connections`);
    let current: GroupTracker | undefined;
    const receivers = await openGroupReceivers(options, {
      baseUrl,
      userIds: group.memberIds,
      headersOf: () => ({}),
      tracker: { delivered: (id, at) => current?.delivered(id, at) },
      transports: () => createTransportPool(baseUrl, options.connections, "grpc"),
    });
    try {
      const ctx: GroupPhaseContext = {
        sender: rawSender(child, () => {
          if (current === undefined) throw new Error("no phase is running");
          return current;
        }),
        track: (tracker) => {
          current = tracker;
        },
        pids: { server: child.pid, bench: process.pid, receiver: receivers.pid },
        serverPid: child.pid ?? 0,
        log: phase.log,
      };
      const paced = await runPaced(ctx, group, {
        label: `rawp${size}`,
        messages: options.pacedMessages,
        expected: size,
      });
      const loaded = await runAtRate(ctx, group, {
        label: `raw${size}`,
        rate: phase.rate,
        warmupSec: options.warmupSec,
        durationSec: options.durationSec,
        expected: size,
        window: options.window,
      });
      return { paced, loaded };
    } finally {
      await receivers.close();
    }
  } finally {
    child.kill();
  }
}

/** "Sends" by asking the raw server to write the message to every stream; answered at once. */
function rawSender(child: ChildProcess, tracker: () => GroupTracker): GroupSender {
  let seq = 0n;
  return {
    async send({ groupId, id, expected }) {
      const t = tracker();
      t.sent(id, expected);
      child.send({ groupId, id });
      t.answered(id, ++seq);
      return seq;
    },
  };
}
