import { readFile } from "node:fs/promises";
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type MessageElement, MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import {
  BeforeSendAction,
  BeforeSendReplySchema,
  type WebhookRequest,
} from "../../src/gen/im/v1/webhook_pb.js";
import {
  encodeBeforeSendReply,
  eventNameOfCommand,
  isWebhookEventName,
  type WebhookEventName,
} from "../../src/webhooks/index.js";
import { UsageError } from "./io.js";

/** How `serve` answers a matching event. */
export type RuleAction =
  | { kind: "allow" }
  | { kind: "deny"; code: number; text: string }
  | { kind: "drop" }
  | {
      kind: "modify";
      body: MessageElement[] | undefined;
      cloudCustomData: string | undefined;
      replace: { pattern: RegExp; with: string } | undefined;
    }
  | { kind: "status"; status: number; body: string }
  | { kind: "malformed" }
  | { kind: "close" };

export interface RuleMatch {
  commands?: ReadonlySet<WebhookEventName>;
  senders?: ReadonlySet<string>;
  recipients?: ReadonlySet<string>;
  groups?: ReadonlySet<string>;
  text?: RegExp;
}

export interface Rule {
  name: string;
  match: RuleMatch;
  /** Wait this long before answering (or closing). */
  delayMs: number;
  action: RuleAction;
}

export interface RuleSet {
  rules: Rule[];
  /** Used when no rule matches; allow unless the file says otherwise. */
  fallback: Rule;
}

const ACTIONS = ["allow", "deny", "drop", "modify", "delay", "status", "malformed", "close"];

const ALLOW_ALL: Rule = { name: "default", match: {}, delayMs: 0, action: { kind: "allow" } };

export const allowAll = (): RuleSet => ({ rules: [], fallback: ALLOW_ALL });

export async function loadRules(path: string): Promise<RuleSet> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read rules ${path}: ${(err as Error).message}`);
  }
  return parseRules(value, path);
}

/**
 * Validates a rules document: `{"rules": [...], "default": {...}}` or a bare
 * array of rules. Throws UsageError naming the rule and field at fault, so a
 * typo does not silently turn into "allow".
 */
export function parseRules(value: unknown, source = "rules"): RuleSet {
  const doc = Array.isArray(value) ? { rules: value } : value;
  if (!isObject(doc)) throw new UsageError(`${source}: expected an object with "rules"`);
  const unknownTop = Object.keys(doc).find((k) => k !== "rules" && k !== "default");
  if (unknownTop !== undefined) throw new UsageError(`${source}: unknown key "${unknownTop}"`);
  const list = doc.rules ?? [];
  if (!Array.isArray(list)) throw new UsageError(`${source}: "rules" must be an array`);
  const rules = list.map((r, i) => parseRule(r, `${source}: rules[${i}]`, `rule ${i + 1}`));
  const fallback =
    doc.default === undefined ? ALLOW_ALL : parseRule(doc.default, `${source}: default`, "default");
  if (Object.keys(fallback.match).length > 0) {
    throw new UsageError(`${source}: default: must not have "match"`);
  }
  return { rules, fallback };
}

const RULE_KEYS = new Set([
  "name",
  "match",
  "delayMs",
  "action",
  "code",
  "text",
  "body",
  "cloudCustomData",
  "replace",
  "status",
]);

function parseRule(value: unknown, at: string, defaultName: string): Rule {
  if (!isObject(value)) throw new UsageError(`${at}: expected an object`);
  const unknown = Object.keys(value).find((k) => !RULE_KEYS.has(k));
  if (unknown !== undefined) throw new UsageError(`${at}: unknown key "${unknown}"`);
  const name = optionalString(value.name, `${at}.name`) ?? defaultName;
  const delayMs = optionalInt(value.delayMs, `${at}.delayMs`, 0, 600_000) ?? 0;
  const kind = value.action;
  if (typeof kind !== "string" || !ACTIONS.includes(kind)) {
    throw new UsageError(`${at}.action: expected one of ${ACTIONS.join(", ")}`);
  }
  const match = parseMatch(value.match, `${at}.match`);
  const action = parseAction(kind, value, at);
  if (kind === "delay" && delayMs === 0) throw new UsageError(`${at}.delayMs: required for delay`);
  return { name, match, delayMs, action };
}

function parseAction(kind: string, value: Record<string, unknown>, at: string): RuleAction {
  switch (kind) {
    case "allow":
    case "delay":
      return { kind: "allow" };
    case "deny":
      return {
        kind: "deny",
        code: optionalInt(value.code, `${at}.code`, -(2 ** 31), 2 ** 31 - 1) ?? 0,
        text: optionalString(value.text, `${at}.text`) ?? "",
      };
    case "drop":
      return { kind: "drop" };
    case "modify": {
      const body = value.body === undefined ? undefined : parseBody(value.body, `${at}.body`);
      const cloudCustomData = optionalString(value.cloudCustomData, `${at}.cloudCustomData`);
      const replace =
        value.replace === undefined ? undefined : parseReplace(value.replace, `${at}.replace`);
      if (body === undefined && cloudCustomData === undefined && replace === undefined) {
        throw new UsageError(`${at}: modify needs "body", "cloudCustomData" or "replace"`);
      }
      return { kind: "modify", body, cloudCustomData, replace };
    }
    case "status":
      return {
        kind: "status",
        status: optionalInt(value.status, `${at}.status`, 100, 599) ?? 500,
        body: optionalString(value.body, `${at}.body`) ?? "",
      };
    case "malformed":
      return { kind: "malformed" };
    default:
      return { kind: "close" };
  }
}

function parseMatch(value: unknown, at: string): RuleMatch {
  if (value === undefined) return {};
  if (!isObject(value)) throw new UsageError(`${at}: expected an object`);
  const match: RuleMatch = {};
  for (const [key, v] of Object.entries(value)) {
    switch (key) {
      case "command": {
        const names = stringList(v, `${at}.command`);
        const bad = names.find((n) => !isWebhookEventName(n));
        if (bad !== undefined) throw new UsageError(`${at}.command: unknown event "${bad}"`);
        match.commands = new Set(names as WebhookEventName[]);
        break;
      }
      case "sender":
        match.senders = new Set(stringList(v, `${at}.sender`));
        break;
      case "recipient":
        match.recipients = new Set(stringList(v, `${at}.recipient`));
        break;
      case "group":
        match.groups = new Set(stringList(v, `${at}.group`));
        break;
      case "text":
        match.text = regex(v, undefined, `${at}.text`);
        break;
      default:
        throw new UsageError(
          `${at}: unknown key "${key}" (expected command, sender, recipient, group, text)`,
        );
    }
  }
  return match;
}

function parseBody(value: unknown, at: string): MessageElement[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new UsageError(`${at}: expected a non-empty array of MessageElement JSON`);
  }
  return value.map((e, i) => {
    try {
      return fromJson(MessageElementSchema, e as JsonValue);
    } catch (err) {
      throw new UsageError(`${at}[${i}]: ${(err as Error).message}`);
    }
  });
}

function parseReplace(value: unknown, at: string): { pattern: RegExp; with: string } {
  if (!isObject(value)) throw new UsageError(`${at}: expected {"pattern", "with"}`);
  const flags = optionalString(value.flags, `${at}.flags`) ?? "gi";
  return {
    pattern: regex(value.pattern, flags, `${at}.pattern`),
    with: optionalString(value.with, `${at}.with`) ?? "",
  };
}

/** Fields of the event the match keys look at. */
function eventFacts(request: WebhookRequest): {
  sender: string;
  recipient: string;
  group: string;
  text: string | undefined;
} {
  const e = request.event;
  switch (e.case) {
    case "c2cBeforeSend":
    case "c2cAfterSend":
    case "c2cBeforeEdit":
      return {
        sender: e.value.fromAccount,
        recipient: e.value.toAccount,
        group: "",
        text: textOf(e.value.body),
      };
    case "groupBeforeSend":
    case "groupAfterSend":
    case "groupBeforeEdit":
      return {
        sender: e.value.fromAccount,
        recipient: "",
        group: e.value.groupId,
        text: textOf(e.value.body),
      };
    case "groupAfterCreate":
    case "groupAfterMemberJoin":
    case "groupAfterMemberExit":
    case "groupAfterDisband":
      return {
        sender: e.value.operatorAccount,
        recipient: "",
        group: e.value.groupId,
        text: undefined,
      };
    case "userAfterStateChange":
      return { sender: e.value.userAccount, recipient: "", group: "", text: undefined };
    default:
      return { sender: "", recipient: "", group: "", text: undefined };
  }
}

/** Text elements joined by newlines: what `match.text` is tested against. */
const textOf = (body: readonly MessageElement[]): string =>
  body.flatMap((e) => (e.element.case === "text" ? [e.element.value.text] : [])).join("\n");

export function matches(match: RuleMatch, request: WebhookRequest): boolean {
  const name = eventNameOfCommand(request.command);
  if (match.commands !== undefined && (name === undefined || !match.commands.has(name)))
    return false;
  const facts = eventFacts(request);
  if (match.senders !== undefined && !match.senders.has(facts.sender)) return false;
  if (match.recipients !== undefined && !match.recipients.has(facts.recipient)) return false;
  if (match.groups !== undefined && !match.groups.has(facts.group)) return false;
  if (match.text !== undefined) {
    if (facts.text === undefined) return false;
    match.text.lastIndex = 0;
    if (!match.text.test(facts.text)) return false;
  }
  return true;
}

/** The first matching rule, else the fallback. */
export const selectRule = (rules: RuleSet, request: WebhookRequest): Rule =>
  rules.rules.find((r) => matches(r.match, request)) ?? rules.fallback;

/** What to write back: an HTTP reply, or nothing at all (close the connection). */
export type RuleReply = { kind: "http"; status: number; body: string } | { kind: "close" };

// A body cut off mid-value: valid HTTP, invalid JSON.
export const MALFORMED_BODY = '{"action": "BEFORE_SEND_ACTION_ALLOW", "appCode": ';

export function replyFor(action: RuleAction, request: WebhookRequest): RuleReply {
  switch (action.kind) {
    case "allow":
      return ok(BeforeSendAction.ALLOW, {});
    case "deny":
      return ok(BeforeSendAction.DENY, { appCode: action.code, appText: action.text });
    case "drop":
      return ok(BeforeSendAction.DROP, {});
    case "modify": {
      const original = originalBody(request);
      let body = action.body;
      if (body === undefined && action.replace !== undefined) {
        const { pattern, with: replacement } = action.replace;
        body = original.map((e) =>
          e.element.case === "text"
            ? create(MessageElementSchema, {
                element: {
                  case: "text",
                  value: { text: e.element.value.text.replace(pattern, replacement) },
                },
              })
            : e,
        );
      }
      return ok(BeforeSendAction.MODIFY, {
        ...(body === undefined ? {} : { body }),
        ...(action.cloudCustomData === undefined
          ? {}
          : { cloudCustomData: action.cloudCustomData }),
      });
    }
    case "status":
      return { kind: "http", status: action.status, body: action.body };
    case "malformed":
      return { kind: "http", status: 200, body: MALFORMED_BODY };
    case "close":
      return { kind: "close" };
  }
}

const ok = (
  action: BeforeSendAction,
  fields: { appCode?: number; appText?: string; body?: MessageElement[]; cloudCustomData?: string },
): RuleReply => ({
  kind: "http",
  status: 200,
  body: encodeBeforeSendReply(create(BeforeSendReplySchema, { action, ...fields })),
});

function originalBody(request: WebhookRequest): MessageElement[] {
  const e = request.event;
  return e.case === "c2cBeforeSend" ||
    e.case === "groupBeforeSend" ||
    e.case === "c2cBeforeEdit" ||
    e.case === "groupBeforeEdit" ||
    e.case === "c2cAfterSend" ||
    e.case === "groupAfterSend"
    ? e.value.body
    : [];
}

/** How a rule reads in logs. */
export function describeAction(rule: Rule): string {
  const a = rule.action;
  const what =
    a.kind === "deny"
      ? `deny ${a.code} ${JSON.stringify(a.text)}`
      : a.kind === "status"
        ? `status ${a.status}`
        : a.kind === "modify" && a.replace !== undefined
          ? `modify (replace ${a.replace.pattern})`
          : a.kind;
  return rule.delayMs > 0 ? `${what} after ${rule.delayMs} ms` : what;
}

export const bodyJson = (body: readonly MessageElement[]): JsonValue[] =>
  body.map((e) => toJson(MessageElementSchema, e));

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function optionalString(v: unknown, at: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UsageError(`${at}: expected a string`);
  return v;
}

function optionalInt(v: unknown, at: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`${at}: expected an integer between ${min} and ${max}`);
  }
  return v;
}

function stringList(v: unknown, at: string): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v as string[];
  throw new UsageError(`${at}: expected a string or an array of strings`);
}

function regex(v: unknown, flags: string | undefined, at: string): RegExp {
  if (typeof v !== "string") throw new UsageError(`${at}: expected a regular expression string`);
  // "/spam/i" style carries its own flags; JS has no inline (?i).
  const literal = /^\/(.*)\/([dgimsuy]*)$/s.exec(v);
  try {
    return literal === null ? new RegExp(v, flags) : new RegExp(literal[1] ?? "", literal[2]);
  } catch (err) {
    throw new UsageError(`${at}: ${(err as Error).message}`);
  }
}
