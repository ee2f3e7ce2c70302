import { type Env, intSetting } from "../config/settings.js";

export interface ReceiptSettings {
  /** Conversations one AckDelivered call may report. */
  ackMax: number;
  /**
   * The window over which a node coalesces a group message's read-count
   * changes into one event to its sender.
   */
  groupEventMs: number;
  /** Readers per ListGroupReaders page (default and maximum). */
  readersPageMax: number;
}

/** RECEIPT_* settings (README "Receipts"). */
export function readReceiptSettings(env: Env): ReceiptSettings {
  return {
    ackMax: intSetting(env, "RECEIPT_ACK_MAX", 100, { min: 1, max: 10_000 }),
    groupEventMs: intSetting(env, "RECEIPT_GROUP_EVENT_MS", 500, { min: 10, max: 60_000 }),
    readersPageMax: 100,
  };
}
