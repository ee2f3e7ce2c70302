import { createWriteStream } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import type { JsonValue } from "@bufbuild/protobuf";
import type { WebhookRequest } from "../../src/gen/im/v1/webhook_pb.js";
import {
  decodeWebhookRequest,
  type WebhookHttpResult,
  webhookRequestToJson,
} from "../../src/webhooks/index.js";
import { UsageError } from "./io.js";

/**
 * One JSONL line as `serve`, `record` and `fixtures` write it. `replay` also
 * accepts a bare WebhookRequest per line (what the server would log).
 */
export interface RecordLine {
  /** Human label, e.g. for fixtures. */
  name?: string;
  /** When the event was received (ISO 8601). */
  receivedAt?: string;
  /** The WebhookRequest, proto JSON. */
  event: JsonValue;
  /** What the endpoint answered (record) or what serve answered. */
  reply?: RecordedReply;
  /** The verdict the server applied/would apply to that reply. */
  verdict?: string;
}

export type RecordedReply =
  | { outcome: "response"; status: number; body: string; latencyMs: number }
  | { outcome: "timeout"; latencyMs: number }
  | { outcome: "connection-error"; error: string; latencyMs: number }
  | { outcome: "closed" };

/** An event ready to replay. */
export interface LoadedEvent {
  /** Where it came from, for messages: "file.jsonl:3" or "fixture:c2c-before-send text". */
  source: string;
  name: string | undefined;
  request: WebhookRequest;
  /** The verdict recorded with it, to compare against. */
  recordedVerdict: string | undefined;
}

export const recordedReplyOf = (result: WebhookHttpResult): RecordedReply => {
  const latencyMs = Math.round(result.latencyMs * 10) / 10;
  switch (result.kind) {
    case "response":
      return { outcome: "response", status: result.status, body: result.body, latencyMs };
    case "timeout":
      return { outcome: "timeout", latencyMs };
    case "connection-error":
      return { outcome: "connection-error", error: result.error, latencyMs };
  }
};

export const recordLineFor = (
  request: WebhookRequest,
  extra: Omit<RecordLine, "event"> = {},
): RecordLine => ({ ...extra, event: webhookRequestToJson(request) });

/** Parses JSONL text; throws UsageError naming the line of the first bad event. */
export function parseEventLines(text: string, label: string): LoadedEvent[] {
  const events: LoadedEvent[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const source = `${label}:${i + 1}`;
    try {
      const value = JSON.parse(line) as JsonValue;
      const isRecord =
        value !== null && typeof value === "object" && !Array.isArray(value) && "event" in value;
      const record = isRecord ? (value as unknown as RecordLine) : undefined;
      const request = decodeWebhookRequest(record?.event ?? value);
      events.push({
        source,
        name: typeof record?.name === "string" ? record.name : undefined,
        request,
        recordedVerdict: typeof record?.verdict === "string" ? record.verdict : undefined,
      });
    } catch (err) {
      throw new UsageError(`${source}: not a webhook event: ${(err as Error).message}`);
    }
  }
  return events;
}

export async function readEventsFile(
  path: string,
  stdin: AsyncIterable<Buffer | string>,
): Promise<LoadedEvent[]> {
  if (path === "-") {
    const chunks: string[] = [];
    for await (const chunk of stdin) chunks.push(chunk.toString());
    return parseEventLines(chunks.join(""), "stdin");
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return parseEventLines(text, path);
}

export interface JsonlWriter {
  write(line: RecordLine): void;
  close(): Promise<void>;
}

/** Checks up front that `path` can be appended to, so a typo fails before serving. */
export async function assertWritable(path: string): Promise<void> {
  try {
    await appendFile(path, "");
  } catch (err) {
    throw new UsageError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

/** Appends one JSON object per line; lines are flushed in order. */
export function createJsonlWriter(
  path: string,
  onError: (err: Error) => void = () => {},
): JsonlWriter {
  const stream = createWriteStream(path, { flags: "a" });
  let closed = false;
  // A disk error stops recording but must not take the mock endpoint down with it.
  stream.on("error", (err) => {
    closed = true;
    onError(err);
  });
  return {
    // Late events (a delayed reply finishing during shutdown) are dropped, not a crash.
    write: (line) => {
      if (!closed) stream.write(`${JSON.stringify(line)}\n`);
    },
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => stream.end(() => resolve()));
    },
  };
}
