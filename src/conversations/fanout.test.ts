import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MessageEditSchema, MessageRecallSchema } from "../gen/im/v1/recall_pb.js";
import type { WebhookEventName } from "../webhooks/index.js";
import { fanoutWorkOf } from "./fanout.js";
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
});
