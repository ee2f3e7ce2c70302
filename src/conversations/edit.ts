import { clone, create } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason, permissionDenied } from "../errors/domain-error.js";
import type { MessageElement } from "../gen/im/v1/elements_pb.js";
import type { OfflinePushInfo } from "../gen/im/v1/message_pb.js";
import { type MessageEdit, MessageEditSchema } from "../gen/im/v1/recall_pb.js";
import type { WebhookClient } from "../webhooks/index.js";
import type { Content, ConversationKind } from "./kind.js";
import type { Outbox } from "./outbox.js";
import { type ContentMessage, messageNotFound, requireWithinWindow } from "./recall.js";
import { runBeforeSend } from "./send-steps.js";
import type { SequencedMessage, StoredMessage } from "./store.js";
import { bodyProblem, type MessageLimits, validateMessage } from "./validate-body.js";

/** What an edit needs of a kind's message beyond its place. */
export interface EditableMessage extends SequencedMessage {
  fromUserId: string;
  body: MessageElement[];
  offlinePushInfo?: OfflinePushInfo | undefined;
}

export interface EditDeps<R> {
  /** The kind's outbox: an edit is published through it like a message. */
  outbox: Pick<Outbox<R>, "publish">;
  webhooks: Pick<WebhookClient, "beforeSend">;
  clock: Clock;
  /** How long after its time a sender may edit their own message. */
  editWindowMs: number;
  messageLimits: MessageLimits;
  /** The sends' keyword moderation (pipeline `moderate`): an edit must not get around it. */
  moderate?: ((caller: Caller, content: Content) => Content) | undefined;
}

export interface EditResult {
  /** The edit now stored; the unchanged one when the webhook dropped the edit. */
  edit: MessageEdit | undefined;
  applied: boolean;
}

export interface Editor {
  /**
   * Edits the message at (conversation, seq): visibility by the kind, the
   * sender within the window or an app admin, text and custom messages only,
   * the new content validated and moderated like a send, passed through the before-edit
   * webhook, stored as the next version with its outbox mark, then published
   * (outbox -> bus -> fan-out). A recall wins: a recalled message is refused.
   */
  edit(caller: Caller, conversationId: string, seq: number, content: Content): Promise<EditResult>;
}

/** Attempts when a concurrent edit stored the version this one meant to. */
const MAX_EDIT_ATTEMPTS = 3;

const editable = (body: readonly MessageElement[]): boolean =>
  body.length > 0 && body.every((e) => e.element.case === "text" || e.element.case === "custom");
const notEditable = (what: string) =>
  new DomainError("failed-precondition", ErrorReason.MESSAGE_NOT_EDITABLE, what, {
    field: "body",
  });
const recalled = () =>
  new DomainError("failed-precondition", ErrorReason.MESSAGE_RECALLED, "the message was recalled", {
    field: "seq",
  });

/** `message`'s next version (for every kind): new content, `edit` set. */
export function editedOf<M extends ContentMessage>(
  schema: GenMessage<M>,
  message: M,
  content: Content,
  edit: MessageEdit,
): M {
  const edited = clone(schema, message);
  edited.body = content.body;
  edited.cloudCustomData = content.cloudCustomData;
  edited.edit = edit;
  return edited;
}

/** Edit, written once for every conversation kind. */
export function createEditor<Req, M extends EditableMessage, R extends StoredMessage<M>, Res>(
  kind: ConversationKind<Req, M, R, Res>,
  deps: EditDeps<R>,
): Editor {
  const { clock } = deps;

  const editOnce = async (
    caller: Caller,
    conversationId: string,
    seq: number,
    requested: Content,
  ): Promise<EditResult | "stale"> => {
    const record = await kind.store.selectMessage(conversationId, seq);
    if (record === undefined) throw messageNotFound();
    const { message } = record;
    if (message.recall !== undefined) throw recalled();
    if (!caller.isAdmin && message.fromUserId !== caller.userId) {
      throw permissionDenied(
        ErrorReason.EDIT_NOT_ALLOWED,
        "only the sender (or an app admin) may edit a message",
      );
    }
    const now = clock();
    if (!caller.isAdmin) {
      requireWithinWindow("edit", ErrorReason.EDIT_WINDOW_PASSED, deps.editWindowMs, message, now);
    }
    if (!editable(message.body)) throw notEditable("only text and custom messages can be edited");
    // The same rules as a send; the push info stays and still counts toward the size.
    validateMessage({ ...requested, offlinePushInfo: message.offlinePushInfo }, deps.messageLimits);
    const content = deps.moderate?.(caller, requested) ?? requested;

    const edit = create(MessageEditSchema, {
      version: (message.edit?.version ?? 0) + 1,
      editedAtMs: BigInt(now),
      editedByUserId: caller.userId,
    });
    const sendProblem = bodyProblem(deps.messageLimits, message.offlinePushInfo);
    const outcome = await runBeforeSend(
      deps.webhooks,
      kind.beforeEditEvent(message, content, edit),
      content,
      // A modification is held to what an edit may be, too.
      (body, cloudCustomData) =>
        editable(body) ? sendProblem(body, cloudCustomData) : "only text and custom elements",
    );
    if (outcome.kind === "dropped") return { edit: message.edit, applied: false };
    const edited = kind.editedOf(
      message,
      { body: outcome.body, cloudCustomData: outcome.cloudCustomData },
      edit,
    );
    const stored = await kind.store.editMessage(edited);
    if (stored === "not-found") throw messageNotFound();
    if (stored === "recalled") throw recalled();
    if (stored === "stale") return "stale";
    deps.outbox.publish({ ...record, message: edited, unpublished: true });
    return { edit, applied: true };
  };

  return {
    async edit(caller, conversationId, seq, content) {
      // The request's own shape first: no store read for an edit that cannot be.
      if (!editable(content.body)) throw notEditable("an edit holds text and custom elements only");
      // Visibility is the kind's (a conversation the caller cannot see has no message).
      await kind.recallAccess(caller, conversationId);
      for (let attempt = 1; ; attempt++) {
        const result = await editOnce(caller, conversationId, seq, content);
        if (result !== "stale") return result;
        if (attempt >= MAX_EDIT_ATTEMPTS) {
          throw new DomainError(
            "aborted",
            ErrorReason.EDIT_CONFLICT,
            "other edits of this message were stored first; retry",
          );
        }
      }
    },
  };
}
