import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type Clock, systemClock } from "../../src/common/clock.js";
import {
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  type HttpTransport,
} from "../../src/webhooks/index.js";
import {
  assertWritable,
  createJsonlWriter,
  type LoadedEvent,
  readEventsFile,
} from "./events-file.js";
import { fixtureLines, fixtures } from "./fixtures.js";
import { type CliIo, UsageError } from "./io.js";
import { startRecord } from "./record.js";
import { runReplay } from "./replay.js";
import { createProgress, formatResult, formatSummary, resultJson, summarize } from "./report.js";
import { allowAll, loadRules } from "./rules.js";
import { startServe } from "./serve.js";
import { createBodyValidator, DEFAULT_MAX_BODY_BYTES } from "./validate-body.js";
import { parseVerdictList } from "./verdicts.js";

export const USAGE = `webhook-sim: replay and mock IM webhooks with the server's exact semantics

Usage: webhook-sim <command> [options]

Commands:
  replay    send events to your endpoint as the server would; print what the server would do
  serve     run a mock app backend answering by rules; records what it receives
  record    proxy between the server and your endpoint; records events and replies
  fixtures  write sample events for every event type (JSONL)

replay [FILE.jsonl ...]
  --url URL             your endpoint (default $WEBHOOK_URL)
  --secret S            shared signing secret (default $WEBHOOK_SECRET)
  --events FILE         events to send, JSONL; repeatable; "-" reads stdin
  --fixtures            send the built-in sample events
  --timeout MS          per-request timeout (default $WEBHOOK_TIMEOUT_MS or ${DEFAULT_WEBHOOK_TIMEOUT_MS})
  --concurrency N       requests in flight at once (default 1)
  --rate N              at most N requests started per second
  --new-ids             give every event a fresh event id
  --max-body-bytes N    size limit applied to modified bodies (default ${DEFAULT_MAX_BODY_BYTES})
  --json                one JSON object per event, then a summary object
  --quiet               print only the summary
  --fail-on LIST        exit 1 if any event ends in one of these verdicts (comma list):
                        delivered-as-is, modified, denied, dropped, timed-out,
                        endpoint-error, invalid-modification, acknowledged

serve
  --port N              (default 8787; 0 picks a free port)  --host H (default 127.0.0.1)
  --rules FILE          JSON rules (default: allow everything)
  --secret S            verify signatures with S (default $WEBHOOK_SECRET)
  --no-verify           accept unsigned requests
  --record FILE         append every accepted event to FILE (JSONL, replayable)
  --timeout MS          the server's timeout, for recorded verdicts (default 2000)
  --replay-window-ms N  accepted timestamp skew (default ${DEFAULT_REPLAY_WINDOW_MS})

record
  --target URL          your real endpoint (required)
  --out FILE            JSONL to append events and replies to (required)
  --port N              (default 8788; 0 picks a free port)  --host H (default 127.0.0.1)
  --timeout MS          how long your endpoint may take (default 2000)
  --secret S            also verify incoming signatures

fixtures
  --out FILE            write to FILE instead of stdout

Exit codes: 0 ok, 1 a --fail-on verdict occurred, 2 bad usage or input.
`;

export interface CliDeps {
  clock?: Clock;
  transport?: HttpTransport;
}

/** Runs one command; returns the exit code. Never calls process.exit (testable in-process). */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  deps: CliDeps = {},
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "replay":
        return await replayCommand(rest, io, deps);
      case "serve":
        return await serveCommand(rest, io, deps);
      case "record":
        return await recordCommand(rest, io, deps);
      case "fixtures":
        return await fixturesCommand(rest, io);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      io.stderr.write(
        `webhook-sim: ${(err as Error).message}\nRun "webhook-sim --help" for usage.\n`,
      );
      return 2;
    }
    throw err;
  }
}

const isParseArgsError = (err: unknown): boolean =>
  err instanceof Error && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;

function intOption(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new UsageError(`--${name}: expected an integer between ${min} and ${max}, got "${raw}"`);
  }
  return Number(raw);
}

async function replayCommand(args: readonly string[], io: CliIo, deps: CliDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      url: { type: "string" },
      secret: { type: "string" },
      events: { type: "string", multiple: true },
      fixtures: { type: "boolean" },
      timeout: { type: "string" },
      concurrency: { type: "string" },
      rate: { type: "string" },
      "new-ids": { type: "boolean" },
      "max-body-bytes": { type: "string" },
      json: { type: "boolean" },
      quiet: { type: "boolean" },
      "fail-on": { type: "string" },
    },
  });
  const url = values.url ?? io.env.WEBHOOK_URL;
  if (url === undefined || url === "")
    throw new UsageError("replay: --url (or $WEBHOOK_URL) is required");
  if (!/^https?:\/\//.test(url))
    throw new UsageError(`--url: expected http(s)://..., got "${url}"`);
  const secret = values.secret ?? io.env.WEBHOOK_SECRET;
  if (secret === undefined || secret === "") {
    throw new UsageError(
      "replay: --secret (or $WEBHOOK_SECRET) is required; the server always signs",
    );
  }
  const timeoutMs = intOption(
    values.timeout ?? io.env.WEBHOOK_TIMEOUT_MS,
    "timeout",
    DEFAULT_WEBHOOK_TIMEOUT_MS,
    1,
    600_000,
  );
  const concurrency = intOption(values.concurrency, "concurrency", 1, 1, 10_000);
  const rate =
    values.rate === undefined ? undefined : intOption(values.rate, "rate", 1, 1, 1_000_000);
  const maxBodyBytes = intOption(
    values["max-body-bytes"],
    "max-body-bytes",
    DEFAULT_MAX_BODY_BYTES,
    1,
    2 ** 30,
  );
  const failOn = parseVerdictList(values["fail-on"]);

  const files = [...(values.events ?? []), ...positionals];
  if (files.length === 0 && values.fixtures !== true) {
    throw new UsageError("replay: give events (--events FILE or FILE arguments) or --fixtures");
  }
  const events: LoadedEvent[] = [];
  if (values.fixtures === true) {
    for (const f of fixtures()) {
      events.push({
        source: "fixtures",
        name: f.name,
        request: f.request,
        recordedVerdict: undefined,
      });
    }
  }
  for (const file of files) events.push(...(await readEventsFile(file, io.stdin)));
  if (events.length === 0) throw new UsageError("replay: the event files hold no events");

  const json = values.json === true;
  const quiet = values.quiet === true;
  const progress = createProgress(io.stderr, events.length);
  const results = await runReplay(events, {
    url,
    secret,
    timeoutMs,
    concurrency,
    ratePerSec: rate,
    validateBody: createBodyValidator(maxBodyBytes),
    newEventIds: values["new-ids"] === true,
    clock: deps.clock ?? systemClock,
    ...(deps.transport === undefined ? {} : { transport: deps.transport }),
    onStart: () => (json ? undefined : progress.started()),
    onResult: (r) => {
      if (json) {
        io.stdout.write(`${JSON.stringify(resultJson(r))}\n`);
        return;
      }
      progress.finished();
      if (quiet) return;
      progress.clear();
      io.stdout.write(formatResult(r, events.length));
      progress.redraw();
    },
  });
  progress.clear();
  const summary = summarize(results);
  const failed = [...failOn].filter((v) => (summary.counts[v] ?? 0) > 0);
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ type: "summary", ...summary, failOn: [...failOn], failed: failed.length > 0 })}\n`,
    );
  } else {
    io.stdout.write(`\n${formatSummary(summary, failOn)}`);
  }
  return failed.length > 0 ? 1 : 0;
}

const recordError =
  (io: CliIo) =>
  (err: Error): void =>
    io.stderr.write(`webhook-sim: recording stopped: ${err.message}\n`);

/** Resolves when the run should stop (Ctrl-C, or the test's abort). */
const untilAborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted
    ? Promise.resolve()
    : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

async function serveCommand(args: readonly string[], io: CliIo, deps: CliDeps): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      port: { type: "string" },
      host: { type: "string" },
      rules: { type: "string" },
      secret: { type: "string" },
      "no-verify": { type: "boolean" },
      record: { type: "string" },
      timeout: { type: "string" },
      "replay-window-ms": { type: "string" },
      "max-body-bytes": { type: "string" },
    },
  });
  const secret = values.secret ?? io.env.WEBHOOK_SECRET;
  const verify = values["no-verify"] !== true;
  if (verify && (secret === undefined || secret === "")) {
    throw new UsageError("serve: --secret (or $WEBHOOK_SECRET) is required unless --no-verify");
  }
  const rules = values.rules === undefined ? allowAll() : await loadRules(values.rules);
  if (values.record !== undefined) await assertWritable(values.record);
  const record =
    values.record === undefined ? undefined : createJsonlWriter(values.record, recordError(io));
  const log = (line: string): void => io.stdout.write(`${line}\n`);
  const server = await startServe({
    host: values.host ?? "127.0.0.1",
    port: intOption(values.port, "port", 8787, 0, 65535),
    rules,
    secret: verify ? secret : undefined,
    replayWindowMs: intOption(
      values["replay-window-ms"],
      "replay-window-ms",
      DEFAULT_REPLAY_WINDOW_MS,
      0,
      2 ** 31,
    ),
    timeoutMs: intOption(values.timeout, "timeout", DEFAULT_WEBHOOK_TIMEOUT_MS, 1, 600_000),
    ...(record === undefined ? {} : { record }),
    validateBody: createBodyValidator(
      intOption(values["max-body-bytes"], "max-body-bytes", DEFAULT_MAX_BODY_BYTES, 1, 2 ** 30),
    ),
    clock: deps.clock ?? systemClock,
    log,
  });
  log(
    `webhook-sim serve listening on ${server.url} (${rules.rules.length} rules, signatures ${verify ? "verified" : "NOT verified"}${record === undefined ? "" : `, recording to ${values.record}`})`,
  );
  await untilAborted(io.signal);
  await server.close();
  await record?.close();
  log(`stopped: ${server.stats.accepted} accepted, ${server.stats.rejected} rejected`);
  return 0;
}

async function recordCommand(args: readonly string[], io: CliIo, deps: CliDeps): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      target: { type: "string" },
      out: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      timeout: { type: "string" },
      secret: { type: "string" },
      "max-body-bytes": { type: "string" },
    },
  });
  if (values.target === undefined || !/^https?:\/\//.test(values.target)) {
    throw new UsageError("record: --target http(s)://your-endpoint is required");
  }
  if (values.out === undefined) throw new UsageError("record: --out FILE is required");
  await assertWritable(values.out);
  const out = createJsonlWriter(values.out, recordError(io));
  const log = (line: string): void => io.stdout.write(`${line}\n`);
  const proxy = await startRecord({
    host: values.host ?? "127.0.0.1",
    port: intOption(values.port, "port", 8788, 0, 65535),
    target: values.target,
    timeoutMs: intOption(values.timeout, "timeout", DEFAULT_WEBHOOK_TIMEOUT_MS, 1, 600_000),
    out,
    secret: values.secret,
    validateBody: createBodyValidator(
      intOption(values["max-body-bytes"], "max-body-bytes", DEFAULT_MAX_BODY_BYTES, 1, 2 ** 30),
    ),
    clock: deps.clock ?? systemClock,
    ...(deps.transport === undefined ? {} : { transport: deps.transport }),
    log,
  });
  log(
    `webhook-sim record listening on ${proxy.url} → ${values.target}, recording to ${values.out}`,
  );
  await untilAborted(io.signal);
  await proxy.close();
  await out.close();
  return 0;
}

async function fixturesCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { out: { type: "string" } } });
  const text = fixtureLines()
    .map((line) => JSON.stringify(line))
    .join("\n");
  if (values.out === undefined) {
    io.stdout.write(`${text}\n`);
  } else {
    await writeFile(values.out, `${text}\n`);
    io.stderr.write(`wrote ${fixtures().length} events to ${values.out}\n`);
  }
  return 0;
}
