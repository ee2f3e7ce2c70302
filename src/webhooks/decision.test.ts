import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type MessageElement, MessageElementSchema } from "../gen/im/v1/elements_pb.js";
import { BeforeSendAction, BeforeSendReplySchema } from "../gen/im/v1/webhook_pb.js";
import {
  type BeforeSendOutcome,
  type BeforeSendVerdict,
  type BodyValidator,
  beforeSendOutcomeOf,
  classifyNotification,
  contentAfterVerdict,
  decideBeforeSend,
  verdictDelivers,
} from "./decision.js";
import type { MessageContent } from "./events.js";

const text = (t: string): MessageElement =>
  create(MessageElementSchema, { element: { case: "text", value: { text: t } } });

const original: MessageContent = { body: [text("hello")], cloudCustomData: "orig" };
const acceptAll: BodyValidator = () => undefined;
const rejectBadWord: BodyValidator = (body) =>
  body.some((e) => e.element.case === "text" && e.element.value.text.includes("bad"))
    ? "body[0].text.text: forbidden"
    : undefined;

const reply = (
  init: Parameters<typeof create<typeof BeforeSendReplySchema>>[1],
): BeforeSendOutcome => ({
  kind: "reply",
  reply: create(BeforeSendReplySchema, init),
});

describe("decideBeforeSend: the webhook table of docs/architecture.md", () => {
  const cases: [string, BeforeSendOutcome, BodyValidator, BeforeSendVerdict][] = [
    ["ALLOW", reply({ action: BeforeSendAction.ALLOW }), acceptAll, { kind: "delivered-as-is" }],
    [
      "DENY passes the app's code and text",
      reply({ action: BeforeSendAction.DENY, appCode: 4001, appText: "no links" }),
      acceptAll,
      { kind: "denied", appCode: 4001, appText: "no links" },
    ],
    [
      "DENY without code or text",
      reply({ action: BeforeSendAction.DENY }),
      acceptAll,
      { kind: "denied", appCode: 0, appText: "" },
    ],
    ["DROP", reply({ action: BeforeSendAction.DROP }), acceptAll, { kind: "dropped" }],
    [
      "MODIFY body and custom data",
      reply({ action: BeforeSendAction.MODIFY, body: [text("h***o")], cloudCustomData: "new" }),
      acceptAll,
      { kind: "modified", body: [text("h***o")], cloudCustomData: "new" },
    ],
    [
      "MODIFY custom data only keeps the body",
      reply({ action: BeforeSendAction.MODIFY, cloudCustomData: "new" }),
      acceptAll,
      { kind: "modified", body: original.body, cloudCustomData: "new" },
    ],
    [
      "MODIFY body only keeps the custom data",
      reply({ action: BeforeSendAction.MODIFY, body: [text("x")] }),
      acceptAll,
      { kind: "modified", body: [text("x")], cloudCustomData: "orig" },
    ],
    [
      "MODIFY with empty custom data clears it",
      reply({ action: BeforeSendAction.MODIFY, cloudCustomData: "" }),
      acceptAll,
      { kind: "modified", body: original.body, cloudCustomData: "" },
    ],
    [
      "MODIFY that fails validation",
      reply({ action: BeforeSendAction.MODIFY, body: [text("bad word")] }),
      rejectBadWord,
      { kind: "invalid-modification", reason: "body[0].text.text: forbidden" },
    ],
    [
      "MODIFY whose validator throws",
      reply({ action: BeforeSendAction.MODIFY, body: [text("x")] }),
      () => {
        throw new Error("boom");
      },
      { kind: "invalid-modification", reason: "validator failed: boom" },
    ],
    [
      "unknown action number",
      reply({ action: 9 as BeforeSendAction }),
      acceptAll,
      { kind: "endpoint-error", reason: "bad reply: unknown action 9" },
    ],
    ["timeout", { kind: "timeout" }, acceptAll, { kind: "timed-out" }],
    [
      "refused or dropped connection",
      { kind: "connection-error", error: "connect ECONNREFUSED 127.0.0.1:9" },
      acceptAll,
      { kind: "endpoint-error", reason: "connection failed: connect ECONNREFUSED 127.0.0.1:9" },
    ],
    [
      "non-2xx",
      { kind: "http-status", status: 503 },
      acceptAll,
      { kind: "endpoint-error", reason: "HTTP status 503" },
    ],
    [
      "unparseable body",
      { kind: "unparseable", error: "reply is not JSON" },
      acceptAll,
      { kind: "endpoint-error", reason: "bad reply: reply is not JSON" },
    ],
  ];

  it.each(cases)("%s", (_name, outcome, validate, expected) => {
    expect(decideBeforeSend(outcome, original, validate)).toEqual(expected);
  });

  it("never validates anything but a modification", () => {
    let calls = 0;
    const counting: BodyValidator = () => {
      calls += 1;
      return "invalid";
    };
    decideBeforeSend(reply({ action: BeforeSendAction.ALLOW }), original, counting);
    decideBeforeSend({ kind: "timeout" }, original, counting);
    expect(calls).toBe(0);
  });

  it("validates the merged result of a partial modification", () => {
    const seen: [readonly MessageElement[], string][] = [];
    decideBeforeSend(
      reply({ action: BeforeSendAction.MODIFY, cloudCustomData: "c" }),
      original,
      (b, c) => {
        seen.push([b, c]);
        return undefined;
      },
    );
    expect(seen).toEqual([[original.body, "c"]]);
  });
});

describe("what is delivered under each verdict", () => {
  const cases: [BeforeSendVerdict, MessageContent | undefined][] = [
    [{ kind: "delivered-as-is" }, original],
    [
      { kind: "modified", body: [text("m")], cloudCustomData: "c" },
      { body: [text("m")], cloudCustomData: "c" },
    ],
    [{ kind: "denied", appCode: 1, appText: "t" }, undefined],
    [{ kind: "dropped" }, undefined],
    [{ kind: "timed-out" }, original],
    [{ kind: "endpoint-error", reason: "r" }, original],
    [{ kind: "invalid-modification", reason: "r" }, original],
  ];
  it.each(cases)("%o", (verdict, expected) => {
    expect(contentAfterVerdict(verdict, original)).toEqual(expected);
    expect(verdictDelivers(verdict)).toBe(expected !== undefined);
  });
});

describe("beforeSendOutcomeOf", () => {
  const response = (status: number, body: string, oversized = false) =>
    ({ kind: "response", status, body, oversized, latencyMs: 5 }) as const;

  it("parses a 2xx reply", () => {
    const outcome = beforeSendOutcomeOf(
      response(200, '{"action":"BEFORE_SEND_ACTION_DENY","appCode":7,"appText":"x","extra":1}'),
    );
    expect(outcome.kind).toBe("reply");
    if (outcome.kind === "reply") {
      expect(outcome.reply.action).toBe(BeforeSendAction.DENY);
      expect(outcome.reply.appCode).toBe(7);
    }
  });

  it("accepts any 2xx status", () => {
    expect(beforeSendOutcomeOf(response(204, '{"action":1}')).kind).toBe("reply");
  });

  it.each([
    [response(500, '{"action":"BEFORE_SEND_ACTION_ALLOW"}'), { kind: "http-status", status: 500 }],
    [response(302, ""), { kind: "http-status", status: 302 }],
    [response(200, ""), { kind: "unparseable", error: "empty reply body" }],
    [response(200, "[1]"), { kind: "unparseable", error: "reply is not a JSON object" }],
    [response(200, "{}"), { kind: "unparseable", error: "reply has no action" }],
    [response(200, "", true), { kind: "unparseable", error: "reply body too large" }],
    [{ kind: "timeout", latencyMs: 2000 } as const, { kind: "timeout" }],
  ])("%o", (result, expected) => {
    expect(beforeSendOutcomeOf(result)).toEqual(expected);
  });

  it("explains a short action name", () => {
    const outcome = beforeSendOutcomeOf(response(200, '{"action":"DENY"}'));
    expect(outcome).toMatchObject({ kind: "unparseable" });
    expect(outcome.kind === "unparseable" && outcome.error).toContain('"DENY"');
  });

  it("rejects a non-JSON body", () => {
    expect(beforeSendOutcomeOf(response(200, "{not json")).kind).toBe("unparseable");
  });

  it("rejects a body whose fields have the wrong type", () => {
    const outcome = beforeSendOutcomeOf(
      response(200, '{"action":"BEFORE_SEND_ACTION_DENY","appCode":"x"}'),
    );
    expect(outcome.kind).toBe("unparseable");
  });
});

describe("classifyNotification", () => {
  it.each([
    [
      { kind: "response", status: 200, body: "", oversized: false, latencyMs: 1 } as const,
      "acknowledged",
    ],
    [
      { kind: "response", status: 204, body: "whatever", oversized: false, latencyMs: 1 } as const,
      "acknowledged",
    ],
    [
      { kind: "response", status: 500, body: "", oversized: false, latencyMs: 1 } as const,
      "endpoint-error",
    ],
    [{ kind: "timeout", latencyMs: 2000 } as const, "timed-out"],
    [
      { kind: "connection-error", error: "x", code: "ECONNRESET", latencyMs: 1 } as const,
      "endpoint-error",
    ],
  ])("%o -> %s", (result, kind) => {
    expect(classifyNotification(result).kind).toBe(kind);
  });
});
