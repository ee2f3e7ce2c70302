import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type Clock, systemClock } from "../../src/common/clock.js";
import { readConfig } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/settings.js";
import {
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  eventNameOfCommand,
  type HttpTransport,
  isWebhookEventName,
  MAX_WEBHOOK_TIMEOUT_MS,
  WEBHOOK_EVENT_NAMES,
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
import { adminUserSig, parseTriggerEvent, runTrigger } from "./trigger.js";
import { createBodyValidator, DEFAULT_MAX_BODY_BYTES } from "./validate-body.js";
import { parseVerdictList } from "./verdicts.js";

const FAIL_ON_VERDICTS = `delivered-as-is, modified, denied, dropped, timed-out,
                        endpoint-error, invalid-modification, acknowledged`;
const SECRET_HELP = `--secret-file FILE    read the shared signing secret from FILE (or set $WEBHOOK_SECRET)
  --secret S            the secret on the command line (visible in ps; warns)`;
const EVENTS_HELP = `--events LIST         only these event types (comma list): ${WEBHOOK_EVENT_NAMES.join(", ")}`;
const TIMEOUT_HELP = `the server's timeout, 1-${MAX_WEBHOOK_TIMEOUT_MS} (default $WEBHOOK_TIMEOUT_MS or ${DEFAULT_WEBHOOK_TIMEOUT_MS})`;

/** Help per command: `webhook-sim <command> --help`. */
export const COMMAND_HELP: Record<string, string> = {
  replay: `webhook-sim replay [FILE.jsonl ...] --url URL [options]
Send events to your endpoint as the server would; print what the server would do.

  --url URL             your endpoint (default $WEBHOOK_URL)
  ${SECRET_HELP}
  --file FILE           events to send, JSONL; repeatable; "-" reads stdin (or FILE arguments)
  --fixtures            send the built-in sample events
  ${EVENTS_HELP}
  --timeout MS          ${TIMEOUT_HELP}
  --concurrency N       requests in flight at once (default 1)
  --rate N              at most N requests started per second
  --new-ids             give every event a fresh event id
  --max-body-bytes N    size limit applied to modified bodies (default ${DEFAULT_MAX_BODY_BYTES})
  --json                one JSON object per event, then a summary object
  --quiet               print only the summary
  --fail-on LIST        exit 1 if any event ends in one of these verdicts (comma list):
                        ${FAIL_ON_VERDICTS}
`,
  resend: `webhook-sim resend <event-id> --file FILE --to URL [options]
Send one recorded event again (found by its event id), re-signed now; print the verdict.

  --file FILE           the recording (JSONL from serve, record or fixtures); required
  --to URL              your endpoint (default $WEBHOOK_URL)
  ${SECRET_HELP}
  --timeout MS          ${TIMEOUT_HELP}
  --new-id              send it under a fresh event id (endpoints refuse ids they have seen)
  --json                one JSON object for the event, then a summary object
`,
  serve: `webhook-sim serve [options]
A mock app backend: answers by rules, verifies signatures, refuses replayed event ids,
records what it receives.

  --port N              (default 8787; 0 picks a free port)
  --host H              (default 127.0.0.1)
  --rules FILE          JSON rules (default: allow everything)
  ${SECRET_HELP}
  --no-verify           accept unsigned requests (and repeated event ids)
  ${EVENTS_HELP}
                        (others are answered "allow" and neither logged nor recorded)
  --record FILE         append every accepted event to FILE (JSONL, replayable)
  --timeout MS          ${TIMEOUT_HELP}
  --replay-window-ms N  accepted timestamp skew (default ${DEFAULT_REPLAY_WINDOW_MS})
  --max-body-bytes N    size limit applied to modified bodies (default ${DEFAULT_MAX_BODY_BYTES})
`,
  record: `webhook-sim record --target URL --out FILE [options]
A proxy between the server and your endpoint; records events, replies and verdicts.

  --target URL          your real endpoint (required)
  --out FILE            JSONL to append events and replies to (required)
  --port N              (default 8788; 0 picks a free port)
  --host H              (default 127.0.0.1)
  --timeout MS          ${TIMEOUT_HELP}
  ${SECRET_HELP.replace("read the shared", "also verify incoming signatures; read the")}
  ${EVENTS_HELP}
                        (others are forwarded and relayed, not recorded)
  --max-body-bytes N    size limit applied to modified bodies (default ${DEFAULT_MAX_BODY_BYTES})
`,
  trigger: `webhook-sim trigger <event> [--server URL] [options]
Make a running server emit an event: does what causes it through the server's API, as an
app admin (UserSig minted from $APP_ID / $APP_SECRET_KEY / $ADMIN_USER_IDS, as the server
reads them), creating the accounts and the group if needed. Your endpoint then receives
the server's own signed request. Events: ${WEBHOOK_EVENT_NAMES.join(", ")}
(c2c.before-send works too).

  --server URL          the server (default $IM_SERVER_URL or http://127.0.0.1:8080)
  --from ID             sender, or group owner (default alice)
  --to ID               recipient, or the member who joins / is removed (default bob)
  --group ID            group for group events (default webhook-sim; created if missing)
  --text T              message text (default "hello from webhook-sim")
`,
  fixtures: `webhook-sim fixtures [--out FILE]
Write sample events for every event type (JSONL).

  --out FILE            write to FILE instead of stdout
`,
};

export const USAGE = `webhook-sim: replay and mock IM webhooks with the server's exact semantics

Usage: webhook-sim <command> [options]      webhook-sim <command> --help

Commands:
  replay    send events to your endpoint as the server would; print what the server would do
  resend    send one recorded event again, by event id
  serve     run a mock app backend answering by rules; records what it receives
  record    proxy between the server and your endpoint; records events and replies
  trigger   make a running server emit an event (sends, group changes) for real
  fixtures  write sample events for every event type (JSONL)

  --version             print the version

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
    if (command !== undefined && COMMAND_HELP[command] !== undefined && wantsHelp(rest)) {
      io.stdout.write(COMMAND_HELP[command]);
      return 0;
    }
    switch (command) {
      case "resend":
        return await resendCommand(rest, io, deps);
      case "trigger":
        return await triggerCommand(rest, io);
      case "--version":
      case "-V":
        io.stdout.write(`webhook-sim ${await packageVersion()}\n`);
        return 0;
      case "replay":
        return await replayCommand(rest, io, deps);
      case "serve":
        return await serveCommand(rest, io, deps);
      case "record":
        return await recordCommand(rest, io, deps);
      case "fixtures":
        return await fixturesCommand(rest, io);
      case "help": {
        const help = rest[0] === undefined ? undefined : COMMAND_HELP[rest[0]];
        io.stdout.write(help ?? USAGE);
        return 0;
      }
      case undefined:
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
        `webhook-sim: ${(err as Error).message}\nRun "webhook-sim ${command !== undefined && COMMAND_HELP[command] !== undefined ? `${command} ` : ""}--help" for usage.\n`,
      );
      return 2;
    }
    throw err;
  }
}

const isParseArgsError = (err: unknown): boolean =>
  err instanceof Error && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;

const wantsHelp = (args: readonly string[]): boolean =>
  args.includes("--help") || args.includes("-h");

/** The version of the package this tool ships in (package.json at the repository root). */
async function packageVersion(): Promise<string> {
  const text = await readFile(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * The signing secret: --secret-file, then --secret (warned: argv is visible to every
 * user in ps and lands in shell history), then $WEBHOOK_SECRET.
 */
async function resolveSecret(
  values: { secret?: string | undefined; "secret-file"?: string | undefined },
  io: CliIo,
): Promise<string | undefined> {
  if (values["secret-file"] !== undefined) {
    if (values.secret !== undefined)
      throw new UsageError("give --secret-file or --secret, not both");
    let text: string;
    try {
      text = await readFile(values["secret-file"], "utf8");
    } catch (err) {
      throw new UsageError(`--secret-file: ${(err as Error).message}`);
    }
    // A trailing newline from `echo` or an editor is not part of the secret.
    const secret = text.replace(/\r?\n$/, "");
    if (secret === "") throw new UsageError(`--secret-file: ${values["secret-file"]} is empty`);
    return secret;
  }
  if (values.secret !== undefined) {
    io.stderr.write(
      "webhook-sim: warning: --secret is visible to other users (ps) and in shell history; use --secret-file FILE or $WEBHOOK_SECRET\n",
    );
    return values.secret;
  }
  const env = io.env.WEBHOOK_SECRET;
  return env === "" ? undefined : env;
}

const SECRET_OPTIONS = {
  secret: { type: "string" },
  "secret-file": { type: "string" },
} as const;

/** --events LIST: event type names, checked against the server's list. */
export function parseEventFilter(raw: string | undefined): ReadonlySet<string> | undefined {
  if (raw === undefined) return undefined;
  const names = raw
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  const unknown = names.filter((n) => !isWebhookEventName(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new UsageError(
      `--events: unknown event type ${unknown.map((n) => `"${n}"`).join(", ") || "(empty list)"}; known: ${WEBHOOK_EVENT_NAMES.join(", ")}`,
    );
  }
  return new Set(names);
}

const timeoutOption = (raw: string | undefined): number =>
  intOption(raw, "timeout", DEFAULT_WEBHOOK_TIMEOUT_MS, 1, MAX_WEBHOOK_TIMEOUT_MS);

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
      ...SECRET_OPTIONS,
      file: { type: "string", multiple: true },
      events: { type: "string" },
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
  const secret = await requireSecret("replay", values, io);
  const timeoutMs = timeoutOption(values.timeout ?? io.env.WEBHOOK_TIMEOUT_MS);
  const only = parseEventFilter(values.events);
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

  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0 && values.fixtures !== true) {
    throw new UsageError("replay: give events (--file FILE or FILE arguments) or --fixtures");
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
  const selected = only === undefined ? events : events.filter((e) => only.has(eventNameOf(e)));
  if (selected.length === 0) {
    throw new UsageError(`replay: no events of type ${[...(only ?? [])].join(", ")}`);
  }
  return sendAndReport(selected, io, deps, {
    url,
    secret,
    timeoutMs,
    concurrency,
    ratePerSec: rate,
    maxBodyBytes,
    newEventIds: values["new-ids"] === true,
    json: values.json === true,
    quiet: values.quiet === true,
    failOn,
  });
}

const eventNameOf = (e: LoadedEvent): string => eventNameOfCommand(e.request.command) ?? "unknown";

async function requireSecret(
  command: string,
  values: { secret?: string | undefined; "secret-file"?: string | undefined },
  io: CliIo,
): Promise<string> {
  const secret = await resolveSecret(values, io);
  if (secret === undefined) {
    throw new UsageError(
      `${command}: a secret is required (--secret-file FILE or $WEBHOOK_SECRET); the server always signs`,
    );
  }
  return secret;
}

interface SendOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  concurrency: number;
  ratePerSec: number | undefined;
  maxBodyBytes: number;
  newEventIds: boolean;
  json: boolean;
  quiet: boolean;
  failOn: ReturnType<typeof parseVerdictList>;
}

/** replay and resend: send, print per event and a summary; exit 1 on a --fail-on verdict. */
async function sendAndReport(
  events: LoadedEvent[],
  io: CliIo,
  deps: CliDeps,
  o: SendOptions,
): Promise<number> {
  const { url, secret, timeoutMs, concurrency, ratePerSec: rate, maxBodyBytes, failOn } = o;
  const json = o.json;
  const quiet = o.quiet;
  const progress = createProgress(io.stderr, events.length);
  const results = await runReplay(events, {
    url,
    secret,
    timeoutMs,
    concurrency,
    ratePerSec: rate,
    validateBody: createBodyValidator(maxBodyBytes),
    newEventIds: o.newEventIds,
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

async function resendCommand(args: readonly string[], io: CliIo, deps: CliDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      file: { type: "string" },
      to: { type: "string" },
      ...SECRET_OPTIONS,
      timeout: { type: "string" },
      "new-id": { type: "boolean" },
      "max-body-bytes": { type: "string" },
      json: { type: "boolean" },
    },
  });
  const [eventId, ...extra] = positionals;
  if (eventId === undefined || extra.length > 0)
    throw new UsageError("resend: give exactly one event id");
  if (values.file === undefined) throw new UsageError("resend: --file FILE is required");
  const url = values.to ?? io.env.WEBHOOK_URL;
  if (url === undefined || !/^https?:\/\//.test(url))
    throw new UsageError("resend: --to http(s)://your-endpoint (or $WEBHOOK_URL) is required");
  const secret = await requireSecret("resend", values, io);
  const found = (await readEventsFile(values.file, io.stdin)).filter(
    (e) => e.request.eventId === eventId,
  );
  const [event] = found;
  if (event === undefined) throw new UsageError(`resend: no event "${eventId}" in ${values.file}`);
  return sendAndReport([event], io, deps, {
    url,
    secret,
    timeoutMs: timeoutOption(values.timeout ?? io.env.WEBHOOK_TIMEOUT_MS),
    concurrency: 1,
    ratePerSec: undefined,
    maxBodyBytes: intOption(
      values["max-body-bytes"],
      "max-body-bytes",
      DEFAULT_MAX_BODY_BYTES,
      1,
      2 ** 30,
    ),
    newEventIds: values["new-id"] === true,
    json: values.json === true,
    quiet: false,
    failOn: new Set(),
  });
}

async function triggerCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      server: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      group: { type: "string" },
      text: { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("trigger: give exactly one event");
  const event = parseTriggerEvent(positionals[0]);
  const server = values.server ?? io.env.IM_SERVER_URL ?? "http://127.0.0.1:8080";
  if (!/^https?:\/\//.test(server))
    throw new UsageError(`--server: expected http(s)://..., got "${server}"`);
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const [adminUserId] = config.adminUserIds;
  if (adminUserId === undefined) throw new UsageError("trigger: ADMIN_USER_IDS names no admin");
  if (config.devSecretKey) {
    io.stderr.write("webhook-sim: note: APP_SECRET_KEY unset, signing with the development key\n");
  }
  const log = (line: string): void => io.stdout.write(`${line}\n`);
  try {
    await runTrigger({
      server,
      event,
      from: values.from ?? "alice",
      to: values.to ?? "bob",
      group: values.group ?? "webhook-sim",
      text: values.text ?? "hello from webhook-sim",
      adminSig: adminUserSig({ appId: config.appId, secretKey: config.secretKey, adminUserId }),
      log,
    });
  } catch (err) {
    io.stderr.write(`webhook-sim: trigger ${event} failed: ${(err as Error).message}\n`);
    return 1;
  }
  log(`triggered ${event}`);
  return 0;
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
      ...SECRET_OPTIONS,
      events: { type: "string" },
      "no-verify": { type: "boolean" },
      record: { type: "string" },
      timeout: { type: "string" },
      "replay-window-ms": { type: "string" },
      "max-body-bytes": { type: "string" },
    },
  });
  const verify = values["no-verify"] !== true;
  const secret = verify ? await requireSecret("serve", values, io) : undefined;
  const only = parseEventFilter(values.events);
  const rules = values.rules === undefined ? allowAll() : await loadRules(values.rules);
  if (values.record !== undefined) await assertWritable(values.record);
  const record =
    values.record === undefined ? undefined : createJsonlWriter(values.record, recordError(io));
  const log = (line: string): void => io.stdout.write(`${line}\n`);
  const server = await startServe({
    host: values.host ?? "127.0.0.1",
    port: intOption(values.port, "port", 8787, 0, 65535),
    rules,
    secret,
    ...(only === undefined ? {} : { only }),
    replayWindowMs: intOption(
      values["replay-window-ms"],
      "replay-window-ms",
      DEFAULT_REPLAY_WINDOW_MS,
      0,
      2 ** 31,
    ),
    timeoutMs: timeoutOption(values.timeout ?? io.env.WEBHOOK_TIMEOUT_MS),
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
      ...SECRET_OPTIONS,
      events: { type: "string" },
      "max-body-bytes": { type: "string" },
    },
  });
  const secret = await resolveSecret(values, io);
  const only = parseEventFilter(values.events);
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
    timeoutMs: timeoutOption(values.timeout ?? io.env.WEBHOOK_TIMEOUT_MS),
    out,
    secret,
    ...(only === undefined ? {} : { only }),
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
