import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin } from "../auth/caller.js";
import { assertBatch } from "../common/batch.js";
import type { Clock } from "../common/clock.js";
import { assertUserIdBatch } from "../common/user-id.js";
import { type MessageLimits, validateMessage } from "../conversations/validate-body.js";
import { ErrorReason, invalidArgument, invalidField, notFound } from "../errors/domain-error.js";
import { type BroadcastBatch, BroadcastBatchSchema } from "../gen/im/internal/v1/push_pb.js";
import {
  type BroadcastService,
  BroadcastState,
  type BroadcastTask,
  BroadcastTaskSchema,
  type StartBroadcastRequest,
} from "../gen/im/v1/broadcast_pb.js";
import { BroadcastMessageSchema } from "../gen/im/v1/events_pb.js";
import type { BroadcastStore, BroadcastTaskRecord } from "./broadcast-store.js";
import { broadcastBatchMsgId } from "./broadcast-worker.js";
import type { BroadcastSettings } from "./config.js";
import { type AudienceFilter, noLabels } from "./labels.js";
import { bodyPushText } from "./push-text.js";
import { assertLabel, updateLabels } from "./user-labels.js";

export interface BroadcastServiceDeps {
  store: BroadcastStore;
  settings: BroadcastSettings;
  messageLimits: MessageLimits;
  /** The subset of `userIds` that have an account. */
  existingUserIds(userIds: readonly string[]): Promise<Set<string>>;
  /** Publishes a task's first batch. */
  publishBatch(batch: BroadcastBatch, msgId: string): Promise<void>;
  clock: Clock;
}

const STATES = {
  running: BroadcastState.RUNNING,
  done: BroadcastState.DONE,
  cancelled: BroadcastState.CANCELLED,
} as const;

const taskToProto = (t: BroadcastTaskRecord): BroadcastTask =>
  create(BroadcastTaskSchema, {
    taskId: t.taskId,
    state: STATES[t.state],
    targeted: BigInt(t.counts.targeted),
    onlineDelivered: BigInt(t.counts.onlineDelivered),
    pushed: BigInt(t.counts.pushed),
    failed: BigInt(t.counts.failed),
    createdAtMs: BigInt(t.createdAtMs),
    finishedAtMs: BigInt(t.finishedAtMs),
  });

/** BroadcastService over Connect: user labels and broadcast tasks, administrators only. */
export function createBroadcastService(
  deps: BroadcastServiceDeps,
): ServiceImpl<typeof BroadcastService> {
  const { settings } = deps;
  const users = async (ids: readonly string[], mustExist: boolean) => {
    const unique = assertUserIdBatch(ids, "user_ids", settings.usersPerRequestMax);
    if (mustExist) {
      const existing = await deps.existingUserIds(unique);
      const missing = unique.find((id) => !existing.has(id));
      if (missing !== undefined) {
        throw notFound(ErrorReason.USER_NOT_FOUND, `user ${missing} has no account`, {
          field: "user_ids",
        });
      }
    }
    return unique;
  };
  const tagList = (tags: readonly string[], field: string, required: boolean) => {
    if (required || tags.length > 0) assertBatch(tags, field, settings.tagsPerUserMax);
    for (const [i, t] of tags.entries()) assertLabel(t, `${field}[${i}]`, settings.tagMaxBytes);
    return [...new Set(tags)];
  };
  const attributeMap = (attrs: Readonly<Record<string, string>>, field: string) => {
    const entries = Object.entries(attrs);
    assertBatch(entries, field, settings.attributesPerUserMax);
    for (const [k, v] of entries) {
      assertLabel(k, `${field}.key`, settings.attributeMaxBytes);
      // Keys become document paths in the store: no dots, no leading "$".
      if (k.includes(".") || k.startsWith("$"))
        throw invalidField(`${field}.key`, "no '.' or leading '$'");
      assertLabel(v, `${field}[${k}]`, settings.attributeMaxBytes);
    }
    return { ...attrs };
  };
  const audienceOf = (req: StartBroadcastRequest): AudienceFilter => {
    const a = req.audience;
    switch (a.case) {
      case "allUsers":
        if (!a.value) throw invalidField("all_users", "must be true");
        return { kind: "all" };
      case "tags":
        return {
          kind: "tags",
          tags: tagList(a.value.tags, "tags.tags", true),
          matchAll: a.value.matchAll,
        };
      case "attributes":
        return { kind: "attributes", attributes: attributeMap(a.value.attributes, "attributes") };
      default:
        throw invalidField("audience", "all_users, tags or attributes required");
    }
  };
  const taskNotFound = () =>
    notFound(ErrorReason.BROADCAST_NOT_FOUND, "no such broadcast task", { field: "task_id" });
  const task = async (taskId: string) => {
    const t = taskId === "" ? undefined : await deps.store.selectBroadcast(taskId);
    if (t === undefined) throw taskNotFound();
    return t;
  };

  return {
    async addUserTags(req, ctx) {
      requireAdmin(ctx);
      const tags = tagList(req.tags, "tags", true);
      await updateLabels(deps.store, await users(req.userIds, true), settings, (l) => ({
        ...l,
        tags: [...l.tags, ...tags],
      }));
      return {};
    },
    async removeUserTags(req, ctx) {
      requireAdmin(ctx);
      const tags = new Set(tagList(req.tags, "tags", false));
      await updateLabels(deps.store, await users(req.userIds, false), settings, (l) => ({
        ...l,
        tags: tags.size === 0 ? [] : l.tags.filter((t) => !tags.has(t)),
      }));
      return {};
    },
    async setUserAttributes(req, ctx) {
      requireAdmin(ctx);
      const attrs = attributeMap(req.attributes, "attributes");
      await updateLabels(deps.store, await users(req.userIds, true), settings, (l) => ({
        ...l,
        attributes: { ...l.attributes, ...attrs },
      }));
      return {};
    },
    async removeUserAttributes(req, ctx) {
      requireAdmin(ctx);
      // Bounded like removeUserTags' tags: none (all of them) or at most a user's worth.
      if (req.keys.length > 0) assertBatch(req.keys, "keys", settings.attributesPerUserMax);
      for (const [i, k] of req.keys.entries()) {
        assertLabel(k, `keys[${i}]`, settings.attributeMaxBytes);
      }
      const keys = new Set(req.keys);
      await updateLabels(deps.store, await users(req.userIds, false), settings, (l) => ({
        ...l,
        attributes:
          keys.size === 0
            ? {}
            : Object.fromEntries(Object.entries(l.attributes).filter(([k]) => !keys.has(k))),
      }));
      return {};
    },
    async getUserLabels(req, ctx) {
      requireAdmin(ctx);
      const ids = assertUserIdBatch(req.userIds, "user_ids", settings.usersPerRequestMax);
      const found = await deps.store.selectUserLabels(ids);
      return {
        users: ids.map((userId) => {
          const { tags, attributes } = found.get(userId) ?? noLabels();
          return { userId, tags, attributes };
        }),
      };
    },
    async startBroadcast(req, ctx) {
      requireAdmin(ctx);
      const filter = audienceOf(req);
      if (bodyPushText(req.body) === "" && (req.offlinePushInfo?.desc ?? "") === "") {
        throw invalidArgument(ErrorReason.BROADCAST_EMPTY, "the broadcast has no text", {
          field: "body",
        });
      }
      validateMessage(
        { body: req.body, cloudCustomData: "", offlinePushInfo: req.offlinePushInfo },
        deps.messageLimits,
      );
      const taskId = randomUUID();
      const createdAtMs = deps.clock();
      const content = toBinary(
        BroadcastMessageSchema,
        create(BroadcastMessageSchema, {
          taskId,
          body: req.body,
          ...(req.offlinePushInfo === undefined ? {} : { offlinePushInfo: req.offlinePushInfo }),
          timeMs: BigInt(createdAtMs),
        }),
      );
      await deps.store.insertBroadcast({ taskId, filter, content, createdAtMs });
      await deps.publishBatch(
        create(BroadcastBatchSchema, { taskId, afterUserId: "" }),
        broadcastBatchMsgId(taskId, ""),
      );
      return { task: taskToProto(await task(taskId)) };
    },
    async getBroadcast(req, ctx) {
      requireAdmin(ctx);
      return { task: taskToProto(await task(req.taskId)) };
    },
    async cancelBroadcast(req, ctx) {
      requireAdmin(ctx);
      // The store answers undefined for an unknown task: no read before the write.
      const after =
        req.taskId === "" ? undefined : await deps.store.cancelBroadcast(req.taskId, deps.clock());
      if (after === undefined) throw taskNotFound();
      return { task: taskToProto(after) };
    },
  };
}
