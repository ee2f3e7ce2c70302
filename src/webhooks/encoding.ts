import { create, fromJson, type JsonValue, toJson, toJsonString } from "@bufbuild/protobuf";
import {
  BeforeSendAction,
  type BeforeSendReply,
  BeforeSendReplySchema,
  type WebhookRequest,
  WebhookRequestSchema,
} from "../gen/im/v1/webhook_pb.js";
import { commandOfCase, requestShapeError, type WebhookEvent } from "./events.js";

/**
 * The HTTP body of a webhook request. Implicit defaults are written out so an
 * endpoint without generated types sees every field (e.g. `"onlineOnly": false`).
 */
export const encodeWebhookRequest = (request: WebhookRequest): string =>
  toJsonString(WebhookRequestSchema, request, { alwaysEmitImplicit: true });

/** The same encoding as a JSON value, for embedding in JSONL records. */
export const webhookRequestToJson = (request: WebhookRequest): JsonValue =>
  toJson(WebhookRequestSchema, request, { alwaysEmitImplicit: true });

/**
 * Parses a request body or recorded event; strict about unknown fields so a
 * typo in a hand-written event file fails loudly. Throws on bad input.
 */
export function decodeWebhookRequest(json: string | JsonValue): WebhookRequest {
  const value = typeof json === "string" ? (JSON.parse(json) as JsonValue) : json;
  const request = fromJson(WebhookRequestSchema, value, { ignoreUnknownFields: false });
  const shapeError = requestShapeError(request);
  if (shapeError !== undefined) throw new Error(shapeError);
  return request;
}

export interface WebhookRequestHeader {
  appId: string;
  eventTimeMs: number;
  eventId: string;
}

/** Wraps an event payload in the envelope, deriving the command from the payload. */
export const createWebhookRequest = (
  header: WebhookRequestHeader,
  event: WebhookEvent,
): WebhookRequest =>
  create(WebhookRequestSchema, {
    command: commandOfCase(event.case),
    appId: header.appId,
    eventTimeMs: BigInt(header.eventTimeMs),
    eventId: header.eventId,
    event,
  });

export type ParsedReply = { ok: true; reply: BeforeSendReply } | { ok: false; error: string };

/**
 * Parses a before-send reply body. Unknown fields are ignored (endpoints may
 * add their own); a missing or unrecognised action is an error, because
 * guessing what the app meant is worse than delivering the original.
 */
export function parseBeforeSendReply(text: string): ParsedReply {
  if (text.trim() === "") return { ok: false, error: "empty reply body" };
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (err) {
    return { ok: false, error: `reply is not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: "reply is not a JSON object" };
  }
  let reply: BeforeSendReply;
  try {
    reply = fromJson(BeforeSendReplySchema, value, { ignoreUnknownFields: true });
  } catch (err) {
    return { ok: false, error: `reply is not a BeforeSendReply: ${(err as Error).message}` };
  }
  if (reply.action === BeforeSendAction.UNSPECIFIED) {
    const raw = value.action;
    return {
      ok: false,
      error:
        raw === undefined
          ? "reply has no action"
          : `reply action ${JSON.stringify(raw)} is not a BeforeSendAction (e.g. "BEFORE_SEND_ACTION_ALLOW")`,
    };
  }
  return { ok: true, reply };
}

export const encodeBeforeSendReply = (reply: BeforeSendReply): string =>
  toJsonString(BeforeSendReplySchema, reply);
