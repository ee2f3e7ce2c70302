import { runC2c } from "./c2c.js";
import { C2C_USAGE, parseC2cOptions, UsageError } from "./c2c-options.js";
import { runGroup } from "./group.js";
import { GROUP_USAGE, type GroupOptions, parseGroupOptions } from "./group-options.js";
import { runKeywords } from "./keywords.js";
import { runPushBench } from "./push.js";

/**
 * `npm run bench -- <scenario> [options]`. Prints one JSON line on stdout and a
 * human summary on stderr (with progress), so `npm run -s bench -- c2c > run.json`
 * keeps the machine-readable part clean. Bounded: a watchdog ends a run that
 * overstays, and every process it started is stopped however it ends.
 */
const USAGE = `usage: npm run bench -- c2c|group|push|keywords [options]\n\n${C2C_USAGE}\n${GROUP_USAGE}`;

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

async function main(): Promise<void> {
  const [scenario, ...rest] = process.argv.slice(2);
  if (scenario === "group") return mainGroup(rest);
  if (scenario === "push") return runPushBench(rest);

  if (scenario === "keywords") return runKeywords();
  if (scenario !== "c2c") {
    process.stderr.write(
      scenario === undefined ? USAGE : `unknown scenario "${scenario}"\n${USAGE}`,
    );
    process.exit(2);
  }
  let options: ReturnType<typeof parseC2cOptions>;
  try {
    options = parseC2cOptions(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(err.message === "" ? C2C_USAGE : `${err.message}\n${C2C_USAGE}`);
    process.exit(err.message === "" ? 0 : 2);
  }

  // Generous (start-up, baselines, drains), but finite.
  const phases = options.mode === "webhook" ? 2 : 1;
  const budgetMs =
    (180 + options.baselineSec * 5 + phases * (options.warmupSec + options.durationSec + 90)) *
    1000;
  const watchdog = setTimeout(
    () => void abort(`still running after ${budgetMs / 1000} s`, 3),
    budgetMs,
  );
  watchdog.unref();
  process.once("SIGINT", () => void abort("interrupted", 130));
  process.once("SIGTERM", () => void abort("terminated", 143));

  const report = await runC2c(options, { log, onAbort });
  clearTimeout(watchdog);
  finish(report);
}

function finish(report: { json: Record<string, unknown>; summary: string }): never {
  process.stdout.write(`${JSON.stringify(report.json)}\n`);
  process.stderr.write(`${report.summary}\n`);
  // HTTP/2 sessions and timers of the clients would keep the loop alive for minutes.
  process.exit(0);
}

async function mainGroup(argv: string[]): Promise<void> {
  let options: GroupOptions;
  try {
    options = parseGroupOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(err.message === "" ? GROUP_USAGE : `${err.message}\n${GROUP_USAGE}`);
    process.exit(err.message === "" ? 0 : 2);
  }
  // Set-up of ~12,000 accounts and streams, the baselines, each phase with its drain.
  const perGroupSec = options.warmupSec + options.durationSec + options.pacedMessages * 11 + 60;
  const budgetMs =
    (600 +
      options.baselineSec * 5 +
      options.members.length * perGroupSec +
      (options.workMembers > 0 ? options.warmupSec + options.durationSec + 180 : 0) +
      (options.dropSec > 0 ? options.dropSec + 60 : 0)) *
    1000;
  const watchdog = setTimeout(
    () => void abort(`still running after ${budgetMs / 1000} s`, 3),
    budgetMs,
  );
  watchdog.unref();
  process.once("SIGINT", () => void abort("interrupted", 130));
  process.once("SIGTERM", () => void abort("terminated", 143));
  const report = await runGroup(options, { log, onAbort });
  clearTimeout(watchdog);
  finish(report);
}

main().catch(
  (err: unknown) => void abort(err instanceof Error ? (err.stack ?? err.message) : String(err), 1),
);
