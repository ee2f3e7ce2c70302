import { describe, expect, it } from "vitest";
import { BroadcastService } from "../gen/im/v1/broadcast_pb.js";
import { EventService } from "../gen/im/v1/events_pb.js";
import { PresenceService } from "../gen/im/v1/presence_pb.js";
import { ReceiptService } from "../gen/im/v1/receipts_pb.js";
import { requestMaxBytesOf } from "./request-limits.js";

const limits = { requestMaxBytes: 64 * 1024, batchRequestMaxBytes: 1024 * 1024 };

describe("requestMaxBytesOf", () => {
  it("gives presence's user-id batches the batch limit (PRESENCE_QUERY_MAX ids may exceed the ordinary one)", () => {
    const { getUserStatus, subscribeUserStatus, unsubscribeUserStatus, logout } =
      PresenceService.method;
    for (const m of [getUserStatus, subscribeUserStatus, unsubscribeUserStatus]) {
      expect(requestMaxBytesOf(m, limits)).toBe(limits.batchRequestMaxBytes);
    }
    expect(requestMaxBytesOf(logout, limits)).toBe(limits.requestMaxBytes);
    expect(requestMaxBytesOf(EventService.method.subscribe, limits)).toBe(limits.requestMaxBytes);
  });

  it("gives broadcast's user-label batches the batch limit (BROADCAST_USERS_PER_REQUEST_MAX ids may exceed the ordinary one)", () => {
    const m = BroadcastService.method;
    for (const rpc of [
      m.addUserTags,
      m.removeUserTags,
      m.setUserAttributes,
      m.removeUserAttributes,
      m.getUserLabels,
    ]) {
      expect(requestMaxBytesOf(rpc, limits), rpc.name).toBe(limits.batchRequestMaxBytes);
    }
    expect(requestMaxBytesOf(m.startBroadcast, limits)).toBe(limits.requestMaxBytes);
  });

  it("gives AckDelivered the batch limit (RECEIPT_ACK_MAX acks, up to 10,000, may exceed the ordinary one)", () => {
    const m = ReceiptService.method;
    expect(requestMaxBytesOf(m.ackDelivered, limits)).toBe(limits.batchRequestMaxBytes);
    expect(requestMaxBytesOf(m.getC2CReceipts, limits)).toBe(limits.requestMaxBytes);
  });
});
