import type { AudienceFilter, UserLabels } from "./labels.js";

export type BroadcastState = "running" | "done" | "cancelled";

/** Progress counts of a broadcast task. */
export interface BroadcastCounts {
  targeted: number;
  onlineDelivered: number;
  pushed: number;
  failed: number;
}

/** A broadcast task as stored. */
export interface BroadcastTaskRecord {
  taskId: string;
  filter: AudienceFilter;
  /** The encoded content (body and push info), opaque to the store. */
  content: Uint8Array;
  state: BroadcastState;
  /** The last user id of the last finished batch; "" before the first. */
  cursor: string;
  counts: BroadcastCounts;
  createdAtMs: number;
  /** 0 while running. */
  finishedAtMs: number;
}

/** Storage port of user labels, broadcast tasks and their delivery claims. */
export interface BroadcastStore {
  /** Labels and their version (0: the user has none stored) of the given users that have any. */
  selectUserLabels(
    userIds: readonly string[],
  ): Promise<Map<string, UserLabels & { version: number }>>;
  /**
   * Replaces a user's labels if their version is still `version` (0: none
   * stored yet) and bumps it; false when another write came first (read and
   * try again).
   */
  replaceUserLabels(userId: string, version: number, labels: UserLabels): Promise<boolean>;
  /**
   * Stores labels (version 1) of users that have none, in one bulk write;
   * returns the users whose labels this call stored (users that had labels
   * already, or got them concurrently, are left out: use replaceUserLabels).
   */
  insertUserLabels(
    entries: readonly { userId: string; labels: UserLabels }[],
  ): Promise<Set<string>>;
  /**
   * Up to `limit` user ids after `afterUserId` (exclusive; "" from the start),
   * in id order, that the filter matches: every account for "all", labelled
   * users otherwise.
   */
  selectAudiencePage(filter: AudienceFilter, afterUserId: string, limit: number): Promise<string[]>;
  /** Stores a new task (running, cursor "", counts 0). */
  insertBroadcast(
    task: Omit<BroadcastTaskRecord, "state" | "cursor" | "counts" | "finishedAtMs">,
  ): Promise<void>;
  selectBroadcast(taskId: string): Promise<BroadcastTaskRecord | undefined>;
  /**
   * Records a finished batch once: if the task is running with cursor `from`,
   * sets the cursor to `to`, adds `add` to the counts and, with `finishedAtMs`,
   * marks it done. False when the batch was recorded already (a redelivery) or
   * the task is not running.
   */
  advanceBroadcast(
    taskId: string,
    from: string,
    to: string,
    add: Pick<BroadcastCounts, "targeted" | "onlineDelivered">,
    finishedAtMs: number | undefined,
  ): Promise<boolean>;
  /** Adds push outcomes to the counts (whatever the state). */
  addBroadcastPushCounts(
    taskId: string,
    add: Pick<BroadcastCounts, "pushed" | "failed">,
  ): Promise<void>;
  /** Running -> cancelled at `nowMs`; returns the task after (undefined: no such task). */
  cancelBroadcast(taskId: string, nowMs: number): Promise<BroadcastTaskRecord | undefined>;
  /**
   * Claims delivery keys (one per task and device, or per task and user for
   * live events) and returns those this call claimed; keys claimed before (by
   * an earlier delivery of the same batch) are left out. A claim is never
   * released: what was claimed is not delivered again, until it is swept.
   */
  claimDeliveries(keys: readonly string[], nowMs: number): Promise<Set<string>>;
  /** Forgets claims made before `beforeMs` (no redelivery reaches back that far). */
  deleteClaimsBefore(beforeMs: number): Promise<void>;
}
