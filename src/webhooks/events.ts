import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import { WebhookCommand, type WebhookRequest } from "../gen/im/v1/webhook_pb.js";

/**
 * Kebab-case event names: what operators write in WEBHOOK_EVENTS, what the
 * X-IM-Command header carries and what the simulator prints.
 */
export const WEBHOOK_EVENT_NAMES = [
  "c2c-before-send",
  "c2c-after-send",
  "group-before-send",
  "group-after-send",
  "group-after-create",
  "group-after-member-join",
  "group-after-member-exit",
  "group-after-disband",
  "c2c-after-recall",
  "group-after-recall",
  "c2c-before-edit",
  "group-before-edit",

  "user-after-state-change",
] as const;

export type WebhookEventName = (typeof WEBHOOK_EVENT_NAMES)[number];

/** The payload of a WebhookRequest: the proto oneof, always set. */
export type WebhookEvent = Exclude<WebhookRequest["event"], { case: undefined }>;
export type WebhookEventCase = WebhookEvent["case"];

/** Events whose reply decides the message's fate (a send's, or an edit's). */
export type BeforeSendEvent = Extract<
  WebhookEvent,
  { case: "c2cBeforeSend" | "groupBeforeSend" | "c2cBeforeEdit" | "groupBeforeEdit" }
>;
/** Message events whose reply is ignored. */
export type AfterSendEvent = Extract<WebhookEvent, { case: "c2cAfterSend" | "groupAfterSend" }>;
/** A recalled message's tombstone was fanned out (reply ignored). */
export type AfterRecallEvent = Extract<
  WebhookEvent,
  { case: "c2cAfterRecall" | "groupAfterRecall" }
>;
/** Group life-cycle events (reply ignored). */
export type GroupChangeEvent = Extract<
  WebhookEvent,
  {
    case:
      | "groupAfterCreate"
      | "groupAfterMemberJoin"
      | "groupAfterMemberExit"
      | "groupAfterDisband";
  }
>;

/** A device's session changed state (presence; reply ignored). */
export type StateChangeEvent = Extract<WebhookEvent, { case: "userAfterStateChange" }>;

interface EventKind {
  name: WebhookEventName;
  command: WebhookCommand;
  beforeSend: boolean;
}

// One table so name, command and oneof case can never drift apart.
const KINDS: Record<WebhookEventCase, EventKind> = {
  c2cBeforeSend: {
    name: "c2c-before-send",
    command: WebhookCommand.C2C_BEFORE_SEND,
    beforeSend: true,
  },
  c2cAfterSend: {
    name: "c2c-after-send",
    command: WebhookCommand.C2C_AFTER_SEND,
    beforeSend: false,
  },
  groupBeforeSend: {
    name: "group-before-send",
    command: WebhookCommand.GROUP_BEFORE_SEND,
    beforeSend: true,
  },
  groupAfterSend: {
    name: "group-after-send",
    command: WebhookCommand.GROUP_AFTER_SEND,
    beforeSend: false,
  },
  groupAfterCreate: {
    name: "group-after-create",
    command: WebhookCommand.GROUP_AFTER_CREATE,
    beforeSend: false,
  },
  groupAfterMemberJoin: {
    name: "group-after-member-join",
    command: WebhookCommand.GROUP_AFTER_MEMBER_JOIN,
    beforeSend: false,
  },
  groupAfterMemberExit: {
    name: "group-after-member-exit",
    command: WebhookCommand.GROUP_AFTER_MEMBER_EXIT,
    beforeSend: false,
  },
  groupAfterDisband: {
    name: "group-after-disband",
    command: WebhookCommand.GROUP_AFTER_DISBAND,
    beforeSend: false,
  },
  c2cAfterRecall: {
    name: "c2c-after-recall",
    command: WebhookCommand.C2C_AFTER_RECALL,
    beforeSend: false,
  },
  groupAfterRecall: {
    name: "group-after-recall",
    command: WebhookCommand.GROUP_AFTER_RECALL,
    beforeSend: false,
  },
  c2cBeforeEdit: {
    name: "c2c-before-edit",
    command: WebhookCommand.C2C_BEFORE_EDIT,
    beforeSend: true,
  },
  groupBeforeEdit: {
    name: "group-before-edit",
    command: WebhookCommand.GROUP_BEFORE_EDIT,
    beforeSend: true,
  },

  userAfterStateChange: {
    name: "user-after-state-change",
    command: WebhookCommand.USER_AFTER_STATE_CHANGE,
    beforeSend: false,
  },
};

const BY_COMMAND = new Map<WebhookCommand, EventKind & { case: WebhookEventCase }>(
  (Object.entries(KINDS) as [WebhookEventCase, EventKind][]).map(([c, k]) => [
    k.command,
    { ...k, case: c },
  ]),
);

export const isWebhookEventName = (value: string): value is WebhookEventName =>
  (WEBHOOK_EVENT_NAMES as readonly string[]).includes(value);

export const eventNameOfCase = (c: WebhookEventCase): WebhookEventName => KINDS[c].name;

export const commandOfCase = (c: WebhookEventCase): WebhookCommand => KINDS[c].command;

/** Undefined for UNSPECIFIED or a command this build does not know. */
export const eventNameOfCommand = (command: WebhookCommand): WebhookEventName | undefined =>
  BY_COMMAND.get(command)?.name;

export const isBeforeSendEvent = (event: WebhookEvent): event is BeforeSendEvent =>
  KINDS[event.case].beforeSend;

/**
 * Why a decoded request is not one the server would send (command and payload
 * disagree, or no payload), or undefined when it is well-formed.
 */
export function requestShapeError(request: WebhookRequest): string | undefined {
  if (request.event.case === undefined) return "request has no event payload";
  const expected = KINDS[request.event.case].command;
  if (request.command !== expected) {
    return `command ${WebhookCommand[request.command] ?? request.command} does not match payload ${request.event.case}`;
  }
  return undefined;
}

/** The part of a message a before-send reply may replace. */
export interface MessageContent {
  body: MessageElement[];
  cloudCustomData: string;
}

export const contentOf = (event: BeforeSendEvent | AfterSendEvent): MessageContent => ({
  body: event.value.body,
  cloudCustomData: event.value.cloudCustomData,
});
