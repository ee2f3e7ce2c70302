import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OfflinePushInfoSchema } from "../gen/im/v1/message_pb.js";
import { storedMessagePushJob } from "./push-job.js";

const stored = {
  messageKey: "k1",
  fromUserId: "alice",
  timeMs: 5n,
  body: [],
  onlineOnly: false,
  seq: 3n,
};
const bob = { case: "users" as const, value: { userIds: ["bob"] } };

describe("stored message push job", () => {
  it("carries the message, the audience and the mentions", () => {
    const job = storedMessagePushJob(stored, bob, { atUserIds: ["carol"], atAll: true });
    expect(job).toMatchObject({
      messageKey: "k1",
      fromUserId: "alice",
      timeMs: 5n,
      audience: { case: "users", value: { userIds: ["bob"] } },
      atUserIds: ["carol"],
      atAll: true,
    });
    expect(job?.offlinePushInfo).toBeUndefined();
  });

  it.each([
    ["online-only", { onlineOnly: true }],
    ["unstored", { seq: 0n }],
    ["push disabled", { offlinePushInfo: create(OfflinePushInfoSchema, { disabled: true }) }],
  ])("makes none for a message that is %s", (_what, over) => {
    expect(storedMessagePushJob({ ...stored, ...over }, bob)).toBeUndefined();
  });
});
