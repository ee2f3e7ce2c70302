import type { Caller } from "../auth/caller.js";
import type { PushJob } from "../gen/im/internal/v1/push_pb.js";
import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import type { ConversationType } from "../gen/im/v1/lifecycle_pb.js";
import type { SendOptions } from "../gen/im/v1/message_pb.js";
import type { MessageEdit, MessageRecall } from "../gen/im/v1/recall_pb.js";
import type {
  AfterRecallEvent,
  AfterSendEvent,
  BeforeSendEvent,
  BodyValidator,
  WebhookEventName,
} from "../webhooks/index.js";
import type { ConversationMessageStore, SequencedMessage, StoredMessage } from "./store.js";

/** The part of a message the before-send webhook may replace. */
export interface Content {
  body: MessageElement[];
  cloudCustomData: string;
}

/** A validated, authorised send, as its kind hands it to the pipeline. */
export interface SendDraft<M> {
  conversationId: string;
  /** False: online only (or a kind without history): delivered live, no seq, nothing stored. */
  stored: boolean;
  /** Idempotency key; undefined: none (never for unstored sends). */
  dedupKey: string | undefined;
  /** Admin skips (webhooks, sync to sender) and flags. */
  options: SendOptions | undefined;
  content: Content;
  /** Re-checks content a before-send webhook modified, with all else the send carries. */
  validateModified: BodyValidator;
  /** The before-send webhook event for `content`. */
  beforeSendEvent(content: Content): BeforeSendEvent;
  /**
   * A kind's own admission after the before-send webhook (group frequency
   * control): false answers success with nothing sent.
   */
  admit?(): boolean;
  /** The message with the final content; seq, key and time are set by the pipeline. */
  build(content: Content): M;
}

/** What a kind's `prepare` decided: send the draft, or answer at once. */
export type Prepared<M, Res> =
  | { kind: "send"; draft: SendDraft<M> }
  /** E.g. a silent drop by the relationship policy: success, nothing stored. */
  | { kind: "reply"; reply: Res };

/** The bus payload of a stored message: the message and its fan-out flags. */
export interface FanoutEvent<M> {
  message?: M | undefined;
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
  /** The storing node delivered it live already (see the internal fanout.proto). */
  liveSent: boolean;
}

/**
 * How far a caller's authority over a message reaches for a recall: "own",
 * the sender's own message, bound by the recall window; "any": no window
 * (group owner or admin where the type allows it, app admin).
 */
export type RecallAuthority = "own" | "any";

/** What a kind decided about one caller recalling in one conversation. */
export interface RecallAccess<M> {
  /** The caller's authority over `message`; throws a DomainError when it has none. */
  authorityOver(message: M): RecallAuthority;
}

/**
 * What differs between conversation kinds (one-to-one, group; later system or
 * topic conversations). Everything else of a send (idempotency, before-send,
 * sequencing and storage with the outbox mark, the ack, fan-out, after-send)
 * is the pipeline's, written once (`pipeline.ts`, `fanout.ts`).
 */
export interface ConversationKind<
  Req,
  M extends SequencedMessage,
  R extends StoredMessage<M>,
  Res,
> {
  /** For logs and errors: "c2c", "group". */
  name: string;
  /** The bus subject of its fan-out events. */
  subject: string;
  /** How long a retry of a send is answered with the original. */
  dedupWindowMs: number;
  /** Where its messages are stored. */
  store: ConversationMessageStore<M, R>;
  /**
   * Its after-send and after-recall webhook events (fan-out asks whether they are
   * enabled); typed to those two families, so no other event's name fits.
   */
  webhookEvents: {
    afterSend: Extract<WebhookEventName, `${string}-after-send`>;
    afterRecall: Extract<WebhookEventName, `${string}-after-recall`>;
  };

  /** Validation, authorisation and policy: a draft to send, or the answer already decided. */
  prepare(caller: Caller, req: Req): Promise<Prepared<M, Res>>;
  /**
   * The seq space: takes the conversation's next seq at `nowMs`. Throws a
   * DomainError when the conversation can no longer take messages.
   */
  allocateSeq(conversationId: string, nowMs: number): Promise<number>;
  /**
   * The seq space for a batch (optional; otherwise `allocateSeq` per message):
   * `count` consecutive seqs in each of several distinct conversations, the
   * first of each returned in order. A throw fails the whole batch's sends.
   */
  allocateSeqRanges?(
    requests: readonly { conversationId: string; count: number }[],
    nowMs: number,
  ): Promise<number[]>;
  conversationIdOf(message: M): string;
  /** The stored record of a draft's message, marked unpublished. */
  toRecord(message: M, draft: SendDraft<M>): R;

  /** The answer to the sender: the message's place (or the original's, for a retry). */
  reply(message: M, duplicate: boolean): Res;
  /** Success with nothing sent (before-send drop, frequency control). */
  notSentReply(conversationId: string, nowMs: number): Res;

  /** Recipients: live delivery on every node (the sender's other devices unless skipped). */
  deliverLive(message: M, skipSyncToSender: boolean): void;
  afterSendEvent(message: M): AfterSendEvent;
  /**
   * The offline push work of a stored message (who may get it and what it
   * says); undefined: it pushes nothing (online-only, unstored, push disabled).
   */
  pushJob?(message: M): PushJob | undefined;

  /** The contract's name of the kind (RecallMessageRequest, MessageRecalled). */
  conversationType: ConversationType;
  /**
   * Whether and how the caller may recall in `conversationId`: throws
   * MESSAGE_NOT_FOUND (or the kind's own not-found/membership error) when the
   * caller cannot see the conversation.
   */
  recallAccess(caller: Caller, conversationId: string): Promise<RecallAccess<M>>;
  /**
   * The caller's own standing in `conversationId` for deleting for
   * themselves: throws when they take no part in it (one-to-one: not one of
   * the two users; group: not a member); the conversation's latest seq.
   */
  participantView(caller: Caller, conversationId: string): Promise<{ lastSeq: number }>;
  /** `message` as a tombstone: content removed, `recall` set. */
  tombstoneOf(message: M, recall: MessageRecall): M;
  /** The recipients' devices learn of a recall (on every node). */
  deliverRecalled(tombstone: M): void;
  afterRecallEvent(tombstone: M): AfterRecallEvent;

  /** `message` with new content and its edit set. */
  editedOf(message: M, content: Content, edit: MessageEdit): M;
  /** The before-edit webhook event (before-send rules) of `content` for `message`. */
  beforeEditEvent(message: M, content: Content, edit: MessageEdit): BeforeSendEvent;
  /** The recipients' devices learn of an edit (on every node). */
  deliverEdited(edited: M): void;

  encodeEvent(record: R, liveSent: boolean): Uint8Array;
  decodeEvent(data: Uint8Array): FanoutEvent<M>;
}
