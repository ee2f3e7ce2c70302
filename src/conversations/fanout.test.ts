import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MessageEditSchema, MessageRecallSchema } from "../gen/im/v1/recall_pb.js";
import { silentLogger } from "../log/logger.js";
import type { WebhookEventName } from "../webhooks/index.js";
import { createFanoutHandler, fanoutWorkOf } from "./fanout.js";
import type { ConversationKind } from "./kind.js";
import type { SequencedMessage, StoredMessage } from "./store.js";

type Rec = StoredMessage<SequencedMessage>;

const kind = {
  name: "c2c",
  webhookEvents: { afterSend: "c2c-after-send", afterRecall: "c2c-after-recall" },
  pushJob: () => undefined,
} as const;

const record = (message: Partial<SequencedMessage> = {}, skipAfterSendWebhook = false): Rec => ({
  message: { seq: 1n, messageKey: "c:1", timeMs: 0n, ...message },
  dedupKey: undefined,
  unpublished: true,
  skipAfterSendWebhook,
  skipSyncToSender: false,
});
const recalled = (deletedForEveryone = false) =>
  record({ recall: create(MessageRecallSchema, { recalledByUserId: "a", deletedForEveryone }) });
const edited = record({ edit: create(MessageEditSchema, { version: 1 }) });

const webhooksFor = (...enabled: WebhookEventName[]) => ({
  afterSend: () => {},
  afterRecall: () => {},
  isEnabled: (name: WebhookEventName) => enabled.includes(name),
});

describe("fanoutWorkOf", () => {
  it("finds no work without webhooks or push: not for messages, recalls or edits", () => {
    const work = fanoutWorkOf(kind, { webhooks: webhooksFor() });
    expect([record(), recalled(), edited].map(work.needed)).toEqual([false, false, false]);
  });

  it("needs fan-out for a message when its after-send webhook is on, unless the send skips it", () => {
    const work = fanoutWorkOf(kind, { webhooks: webhooksFor("c2c-after-send") });
    expect([record(), record({}, true), recalled(), edited].map(work.needed)).toEqual([
      true,
      false,
      false,
      false,
    ]);
  });

  it("needs fan-out for a message whenever push is on", () => {
    const work = fanoutWorkOf(kind, { webhooks: webhooksFor(), enqueuePush: async () => {} });
    expect([record({}, true), recalled(), edited].map(work.needed)).toEqual([true, false, false]);
  });

  it("needs fan-out for a recall when after-recall is on, not for a delete for everyone", () => {
    const work = fanoutWorkOf(kind, { webhooks: webhooksFor("c2c-after-recall") });
    expect([recalled(), recalled(true), record()].map(work.needed)).toEqual([true, false, false]);
  });

  it("meters a message's live-only fan-out like the consumer's", () => {
    const fanned: [string, number][] = [];
    const work = fanoutWorkOf(kind, {
      webhooks: webhooksFor(),
      clock: () => 1500,
      meter: { messageFannedOut: (k, lag) => fanned.push([k, lag]) },
    });
    work.doneLive(record({ timeMs: 1000n }));
    work.doneLive(recalled());
    expect(fanned).toEqual([["c2c", 0.5]]);
  });

  it("agrees with the fan-out handler: no work needed exactly when the handler would call no webhook and enqueue no push", async () => {
    const records = [record(), record({}, true), recalled(), recalled(true), edited];
    const configs: [WebhookEventName[], boolean][] = [
      [[], false],
      [[], true],
      [["c2c-after-send"], false],
      [["c2c-after-recall"], false],
      [["c2c-after-send", "c2c-after-recall"], true],
    ];
    for (const [enabled, pushing] of configs) {
      for (const r of records) {
        // What the handler does beyond live delivery (a disabled webhook is a no-op in the client).
        const work: string[] = [];
        const webhooks = {
          isEnabled: (name: WebhookEventName) => enabled.includes(name),
          afterSend: () => enabled.includes("c2c-after-send") && work.push("afterSend"),
          afterRecall: () => enabled.includes("c2c-after-recall") && work.push("afterRecall"),
        };
        const deps = {
          webhooks,
          logger: silentLogger,
          ...(pushing ? { enqueuePush: async () => void work.push("push") } : {}),
        };
        const pushingKind = { ...kind, pushJob: () => ({}) };
        const handlerKind = {
          ...pushingKind,
          decodeEvent: () => ({
            message: r.message,
            liveSent: true,
            skipSyncToSender: false,
            skipAfterSendWebhook: r.skipAfterSendWebhook,
          }),
          afterSendEvent: () => ({}),
          afterRecallEvent: () => ({}),
        } as unknown as ConversationKind<unknown, SequencedMessage, Rec, unknown>;
        await createFanoutHandler(
          handlerKind,
          deps,
        )({
          subject: "s",
          data: new Uint8Array(),
          msgId: undefined,
          streamSeq: 1,
          deliveryCount: 1,
        });
        const needed = fanoutWorkOf(
          pushingKind as unknown as ConversationKind<unknown, SequencedMessage, Rec, unknown>,
          deps,
        ).needed(r);
        expect({ enabled, pushing, message: r.message, needed }).toEqual({
          enabled,
          pushing,
          message: r.message,
          needed: work.length > 0,
        });
      }
    }
  });
});
