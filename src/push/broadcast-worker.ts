import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type EventHandler, PoisonEventError } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type BroadcastBatch, BroadcastBatchSchema } from "../gen/im/internal/v1/push_pb.js";
import { BroadcastMessageSchema, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { BroadcastStore } from "./broadcast-store.js";
import type { BroadcastSettings } from "./config.js";
import type { OfflinePusher } from "./offline-push.js";
import { renderPush } from "./push-text.js";
import type { ReachableLive } from "./reachable.js";
import type { Sleep } from "./retry.js";

export interface BroadcastWorkerDeps {
  store: BroadcastStore;
  pusher: OfflinePusher;
  /** Devices with a live stream, per user (presence). */
  onlineDevices: ReachableLive;
  live: Pick<LiveHub, "publishToUsers">;
  /** Publishes a batch to the broadcast consumer with a dedup id. */
  publishBatch(batch: BroadcastBatch, msgId: string): Promise<void>;
  settings: Pick<BroadcastSettings, "batchSize" | "usersPerSecond">;
  clock: Clock;
  sleep: Sleep;
}

export const encodeBroadcastBatch = (batch: BroadcastBatch): Uint8Array =>
  toBinary(BroadcastBatchSchema, batch);

/** Dedup id of the batch starting after `afterUserId`: a republished batch is stored once. */
export const broadcastBatchMsgId = (taskId: string, afterUserId: string): string =>
  `broadcast:${taskId}:${afterUserId}`;

/** Claim key of the live event of a task to a user (pushes are claimed per device by the pusher). */
const liveClaim = (taskId: string, userId: string) => `${taskId}/live/${userId}`;

/**
 * The broadcast work consumer's handler: one batch of a task's audience. Users
 * with an online device get the live event, their other registered devices
 * (and those of offline users) a push. Every live event and push is claimed
 * first, so a redelivered batch delivers nothing twice; the batch is recorded
 * (cursor and counts) once, then the next batch is published. A batch of a
 * task that is no longer running does nothing, which is how cancel stops it.
 */
export function createBroadcastHandler(deps: BroadcastWorkerDeps): EventHandler {
  const publishNext = (taskId: string, after: string) =>
    deps.publishBatch(
      create(BroadcastBatchSchema, { taskId, afterUserId: after }),
      broadcastBatchMsgId(taskId, after),
    );

  return async (event) => {
    let batch: BroadcastBatch;
    try {
      batch = fromBinary(BroadcastBatchSchema, event.data);
    } catch (err) {
      throw new PoisonEventError("undecodable broadcast batch", { cause: err });
    }
    const { taskId, afterUserId: after } = batch;
    const task = await deps.store.selectBroadcast(taskId);
    if (task === undefined) throw new PoisonEventError(`broadcast ${taskId} not found`);
    if (task.state !== "running") return;
    if (task.cursor !== after) {
      // Recorded already (a redelivery after the next batch was due): make sure
      // the next one exists; its dedup id keeps it single.
      await publishNext(taskId, task.cursor);
      return;
    }
    const startedMs = deps.clock();
    const message = fromBinary(BroadcastMessageSchema, task.content);
    const userIds = await deps.store.selectAudiencePage(
      task.filter,
      after,
      deps.settings.batchSize,
    );
    const online = await deps.onlineDevices(userIds);
    const onlineUsers = userIds.filter((id) => (online.get(id)?.length ?? 0) > 0);
    const fresh = await deps.store.claimDeliveries(
      onlineUsers.map((id) => liveClaim(taskId, id)),
      deps.clock(),
    );
    const liveTo = onlineUsers.filter((id) => fresh.has(liveClaim(taskId, id)));
    if (liveTo.length > 0) {
      deps.live.publishToUsers(
        liveTo,
        create(SubscribeResponseSchema, { event: { case: "broadcast", value: message } }),
      );
    }
    await deps.pusher.push({
      userIds,
      live: async () => online,
      collapseKey: taskId,
      content: async () =>
        renderPush({ body: message.body, pushInfo: message.offlinePushInfo, senderNick: "" }),
      chunkSent: (r) => deps.store.addBroadcastPushCounts(taskId, r),
    });

    // Paced to the configured rate: one batch at a time per task, so this bounds the task.
    const minMs = (userIds.length * 1000) / deps.settings.usersPerSecond;
    const waitMs = minMs - (deps.clock() - startedMs);
    if (waitMs > 0) await deps.sleep(waitMs);

    const last = userIds.at(-1) ?? after;
    const done = userIds.length < deps.settings.batchSize;
    const recorded = await deps.store.advanceBroadcast(
      taskId,
      after,
      last,
      { targeted: userIds.length, onlineDelivered: onlineUsers.length },
      done ? deps.clock() : undefined,
    );
    if (done) return;
    if (recorded || (await deps.store.selectBroadcast(taskId))?.state === "running") {
      await publishNext(taskId, last);
    }
  };
}
