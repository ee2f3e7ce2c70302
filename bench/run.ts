import { runC2c } from "./c2c.js";
import { C2C_USAGE, parseC2cOptions } from "./c2c-options.js";
import { runCluster } from "./cluster.js";
import { CLUSTER_USAGE, parseClusterOptions } from "./cluster-options.js";
import { UsageError } from "./flags.js";
import { runGroup } from "./group.js";
import { GROUP_USAGE, parseGroupOptions } from "./group-options.js";
import { runKeywords } from "./keywords.js";
import { PRESENCE_USAGE, parsePresenceOptions, runPresenceBench } from "./presence.js";
import { runPushBench } from "./push.js";
import { parseReadReceiptsOptions, READ_RECEIPTS_USAGE, runReadReceipts } from "./read-receipts.js";

/**
 * `npm run bench -- <scenario> [options]`. Prints one JSON line on stdout and a
 * human summary on stderr (with progress), so `npm run -s bench -- c2c > run.json`
 * keeps the machine-readable part clean. Bounded: a watchdog ends a run that
 * overstays, and every process it started is stopped however it ends.
 */
const USAGE = `usage: npm run bench -- c2c|group|cluster|push|presence|keywords|read-receipts [options]\n\n${C2C_USAGE}\n${GROUP_USAGE}\n${CLUSTER_USAGE}\n${PRESENCE_USAGE}\n${READ_RECEIPTS_USAGE}`;

const cleanups = new Set<() => Promise<void>>();
const onAbort = (cleanup: () => Promise<void>) => {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
};
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function abort(reason: string, code: number): Promise<never> {
  log(`aborting: ${reason}`);
  await Promise.allSettled([...cleanups].map((c) => c()));
  process.exit(code);
}

/** Parses the scenario's options, exiting with its usage on a usage error. */
function parsed<T>(parse: (argv: string[]) => T, usage: string, argv: string[]): T {
  try {
    return parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(err.message === "" ? usage : `${err.message}\n${usage}`);
    process.exit(err.message === "" ? 0 : 2);
  }
}

/** Runs one scenario under a watchdog of `budgetSec` and the signal handlers, then prints it. */
async function bounded(
  budgetSec: number,
  run: () => Promise<{ json: Record<string, unknown>; summary: string }>,
): Promise<never> {
  const watchdog = setTimeout(
    () => void abort(`still running after ${budgetSec} s`, 3),
    budgetSec * 1000,
  );
  watchdog.unref();
  process.once("SIGINT", () => void abort("interrupted", 130));
  process.once("SIGTERM", () => void abort("terminated", 143));
  const report = await run();
  clearTimeout(watchdog);
  process.stdout.write(`${JSON.stringify(report.json)}\n`);
  process.stderr.write(`${report.summary}\n`);
  // HTTP/2 sessions and timers of the clients would keep the loop alive for minutes.
  process.exit(0);
}

async function main(): Promise<void> {
  const [scenario, ...rest] = process.argv.slice(2);
  const deps = { log, onAbort };
  if (scenario === "c2c") {
    const options = parsed(parseC2cOptions, C2C_USAGE, rest);
    // Generous (start-up, baselines, drains), but finite.
    const phases = options.mode === "webhook" ? 2 : 1;
    return bounded(
      180 + options.baselineSec * 5 + phases * (options.warmupSec + options.durationSec + 90),
      () => runC2c(options, deps),
    );
  }
  if (scenario === "group") {
    const options = parsed(parseGroupOptions, GROUP_USAGE, rest);
    // Set-up of ~12,000 accounts and streams, the baselines, each phase with its drain.
    const perGroupSec = options.warmupSec + options.durationSec + options.pacedMessages * 11 + 60;
    return bounded(
      600 +
        options.baselineSec * 5 +
        options.members.length * perGroupSec +
        (options.workMembers > 0 ? options.warmupSec + options.durationSec + 180 : 0) +
        (options.dropSec > 0 ? options.dropSec + 60 : 0),
      () => runGroup(options, deps),
    );
  }
  if (scenario === "cluster") {
    const options = parsed(parseClusterOptions, CLUSTER_USAGE, rest);
    // Start-up of the cluster and nodes, four baselines, two phases with their set-up and drains.
    return bounded(
      300 + options.baselineSec * 8 + 2 * (options.warmupSec + options.durationSec + 120),
      () => runCluster(options, deps),
    );
  }
  // Set-up, two phases of users/rate seconds per round, their drains.
  if (scenario === "presence") {
    const options = parsed(parsePresenceOptions, PRESENCE_USAGE, rest);
    return bounded(3600, () => runPresenceBench(options, deps));
  }
  if (scenario === "push") return runPushBench(rest);
  if (scenario === "read-receipts") {
    return runReadReceipts(parsed(parseReadReceiptsOptions, READ_RECEIPTS_USAGE, rest));
  }
  if (scenario === "keywords") return runKeywords();
  process.stderr.write(scenario === undefined ? USAGE : `unknown scenario "${scenario}"\n${USAGE}`);
  process.exit(2);
}

main().catch(
  (err: unknown) => void abort(err instanceof Error ? (err.stack ?? err.message) : String(err), 1),
);
