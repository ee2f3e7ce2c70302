import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type WebhookRequest, WebhookRequestSchema } from "../../src/gen/im/v1/webhook_pb.js";
import { commandOfCase, webhookRequestToJson } from "../../src/webhooks/index.js";
import { bufferOutput, type CliIo } from "./io.js";

/** Test support: in-memory CLI io, temp dirs and event builders. */
export function testIo(
  options: { tty?: boolean; signal?: AbortSignal; env?: Record<string, string> } = {},
) {
  const stdout = bufferOutput(options.tty ?? false);
  const stderr = bufferOutput(options.tty ?? false);
  const io: CliIo = {
    stdout,
    stderr,
    stdin: (async function* () {})(),
    env: options.env ?? {},
    signal: options.signal ?? new AbortController().signal,
  };
  return { io, stdout, stderr };
}

export async function tempDir(): Promise<{
  path: string;
  file(name: string): string;
  remove(): Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), "webhook-sim-"));
  return {
    path,
    file: (name) => join(path, name),
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

let n = 0;

/** A C2C before-send event whose text tells test endpoints how to behave. */
export function c2cText(
  text: string,
  options: { from?: string; to?: string; id?: string } = {},
): WebhookRequest {
  return create(WebhookRequestSchema, {
    command: commandOfCase("c2cBeforeSend"),
    appId: "1400000000",
    eventTimeMs: 1_767_225_600_000n,
    eventId: options.id ?? `t-${++n}`,
    event: {
      case: "c2cBeforeSend",
      value: {
        fromAccount: options.from ?? "alice",
        toAccount: options.to ?? "bob",
        random: n,
        body: [{ element: { case: "text", value: { text } } }],
      },
    },
  });
}

export function groupText(text: string, groupId = "g1"): WebhookRequest {
  return create(WebhookRequestSchema, {
    command: commandOfCase("groupBeforeSend"),
    appId: "1400000000",
    eventTimeMs: 1_767_225_600_000n,
    eventId: `t-${++n}`,
    event: {
      case: "groupBeforeSend",
      value: {
        fromAccount: "carol",
        groupId,
        body: [{ element: { case: "text", value: { text } } }],
      },
    },
  });
}

export async function writeEvents(
  path: string,
  events: readonly WebhookRequest[],
  extra: (i: number) => Record<string, unknown> = () => ({}),
): Promise<void> {
  const lines = events.map((e, i) =>
    JSON.stringify({ ...extra(i), event: webhookRequestToJson(e) }),
  );
  await writeFile(path, `${lines.join("\n")}\n`);
}

/** Parses `--json` output: event objects and the summary. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
