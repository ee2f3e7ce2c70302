import { parseFlags, UsageError } from "./flags.js";
import { SERVER_ENV_USAGE } from "./server-env-option.js";

export interface GroupOptions {
  /** Sizes of the all-online groups (Public up to 2,000 members, Community above). */
  members: number[];
  /** Measured seconds of each fixed-rate phase (and of the Work phase). */
  durationSec: number;
  warmupSec: number;
  /** Messages/s to the all-online groups; undefined: per group, see rateFor. */
  rate: number | undefined;
  /** Messages outstanding until fully delivered, at most, in the fixed-rate phases. */
  window: number;
  /** Messages sent one at a time (each after the last was fully delivered) per group. */
  pacedMessages: number;
  /** Members of the Work group, half of them offline; 0 skips the Work phase. */
  workMembers: number;
  /** Messages/s to the Work group. */
  workRate: number;
  /** Seconds at twice the frequency limit; 0 skips the drop phase. */
  dropSec: number;
  /** Members of the drop phase's group (all online). */
  dropMembers: number;
  /** HTTP/2 connections the live streams are spread over. */
  connections: number;
  baselineSec: number;
  cpuProfDir: string | undefined;
  /** Settings added to the server's environment (A/B runs of one setting). */
  serverEnv: Record<string, string>;
  /**
   * The server's document store. "memory" (the in-process store) is a diagnostic:
   * the server's own ceiling with the database taken out of the path.
   */
  store: "ferretdb" | "memory";
  /**
   * Who serves the live streams: the server's own Subscribe writer, or (for
   * comparison) Connect's implementation, reached by gzip-compressed requests.
   */
  subscribe: "writer" | "connect";
  /** After the server's phases, the raw pre-encoded-frame baseline of each all-online group. */
  rawFrames: boolean;
  /**
   * What holds the all-online members' streams (server and raw-frame phases alike):
   * connect-node clients in the bench's process, or bench/receiver-go, a Go process
   * costing a fraction of the server it measures.
   */
  receiver: "node" | "go";
}

export const GROUP_USAGE = `usage: npm run bench -- group [options]

  One sender; groups whose members are all online on live streams (spread over many
  HTTP/2 connections); a Work group with half its members offline; the frequency
  limit at twice its rate. FerretDB + nats-server, the server as a child process.

  --members LIST      all-online group sizes (default 1000,10000); <= 2,000 is a Public
                      group, larger a Community group
  --duration S        measured seconds per fixed-rate phase (default 10)
  --warmup S          unmeasured seconds before each fixed-rate phase (default 2)
  --rate R            messages/s to every all-online group (default per group:
                      min(30, 100000 / members), i.e. 100,000 deliveries/s offered where
                      the 40/s frequency limit allows)
  --window W          messages outstanding until fully delivered, at most (default 8): a
                      server slower than the rate paces the sender instead of timing out
  --paced N           messages sent one at a time per group, for unloaded latency (default 10)
  --work-members N    Work group size, half offline (default 1000; 0 skips; <= 2000)
  --work-rate R       messages/s to the Work group (default 20)
  --drop S            seconds at 80 msg/s (2x the limit), priorities mixed (default 5; 0 skips)
  --drop-members N    members of the drop phase's group, all online (default 100)
  --connections K     HTTP/2 connections for the live streams (default 200)
  --store S           ferretdb (default) or memory: the server's in-process store, to see
                      the server's own ceiling with the database out of the path (diagnostic)
  --baseline S        seconds per raw-stack baseline (default 3)
  --cpu-prof DIR      write a V8 CPU profile of the server to DIR (node --cpu-prof)
  --subscribe S       writer (default): the server's own Subscribe writer serves the
                      streams; connect: gzip-compressed Subscribe requests, which the
                      writer leaves to Connect's implementation (for comparison)
  --raw-frames B      on (default): after the server's phases, each all-online group's
                      load again against a bare node:http2 server writing one pre-encoded
                      frame per message to the same number of streams and connections
                      (the runtime's ceiling; ratio = server / raw); off skips it
  --receiver R        node (default): the members' streams are connect-node clients in
                      the bench's process; go: bench/receiver-go (built on first use),
                      raw HTTP/2 framing in its own process, whose CPU is reported apart
${SERVER_ENV_USAGE}`;

/** The throughput target, offered where the frequency limit allows. */
const TARGET_DELIVERIES_PER_SEC = 100_000;

/** Messages/s sent to an all-online group of `members`. */
export const rateFor = (options: GroupOptions, members: number): number =>
  options.rate ?? Math.min(30, Math.ceil(TARGET_DELIVERIES_PER_SEC / members));

export function parseGroupOptions(argv: string[]): GroupOptions {
  const {
    values: flags,
    serverEnv,
    parse,
    num,
  } = parseFlags(argv, [
    "members",
    "duration",
    "warmup",
    "rate",
    "paced",
    "window",
    "store",
    "work-members",
    "work-rate",
    "drop",
    "drop-members",
    "connections",
    "baseline",
    "cpu-prof",
    "subscribe",
    "raw-frames",
    "receiver",
    "server-env",
  ]);

  // Bounded so a typo cannot start tens of thousands of streams or an hour-long run.
  const members = (flags.get("members") ?? "1000,10000")
    .split(",")
    .filter((s) => s.trim() !== "")
    .map((s) => Math.floor(parse("members", s.trim(), 2, 20_000)));
  if (members.length === 0 || members.length > 4) {
    throw new UsageError("--members takes 1 to 4 sizes");
  }
  const workMembers = Math.floor(num("work-members", 1000, 0, 2000));
  if (workMembers === 1) throw new UsageError("--work-members must be 0 or at least 2");
  const store = flags.get("store") ?? "ferretdb";
  if (store !== "ferretdb" && store !== "memory") {
    throw new UsageError(`--store must be ferretdb or memory, got "${store}"`);
  }
  const subscribe = flags.get("subscribe") ?? "writer";
  if (subscribe !== "writer" && subscribe !== "connect") {
    throw new UsageError(`--subscribe must be writer or connect, got "${subscribe}"`);
  }
  const rawFrames = flags.get("raw-frames") ?? "on";
  if (rawFrames !== "on" && rawFrames !== "off") {
    throw new UsageError(`--raw-frames must be on or off, got "${rawFrames}"`);
  }
  const receiver = flags.get("receiver") ?? "node";
  if (receiver !== "node" && receiver !== "go") {
    throw new UsageError(`--receiver must be node or go, got "${receiver}"`);
  }
  // Connect's path is reached by gzip-compressed requests, which the Go receiver does not make.
  if (receiver === "go" && subscribe === "connect") {
    throw new UsageError("--receiver go needs --subscribe writer");
  }
  return {
    subscribe,
    receiver,
    rawFrames: rawFrames === "on",
    members,
    durationSec: num("duration", 10, 1, 300),
    warmupSec: num("warmup", 2, 0, 60),
    rate: flags.has("rate") ? num("rate", 0, 0.1, 1000) : undefined,
    window: Math.floor(num("window", 8, 1, 1000)),
    pacedMessages: Math.floor(num("paced", 10, 0, 1000)),
    workMembers,
    workRate: num("work-rate", 20, 0.1, 1000),
    dropSec: num("drop", 5, 0, 60),
    dropMembers: Math.floor(num("drop-members", 100, 2, 2000)),
    connections: Math.floor(num("connections", 200, 1, 1000)),
    baselineSec: num("baseline", 3, 0.5, 60),
    cpuProfDir: flags.get("cpu-prof"),
    serverEnv,
    store,
  };
}
