import type { AccountStore } from "../accounts/store.js";
import type { Caller } from "../auth/caller.js";
import type { Bus } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type Component, nothingToStop, type Worker } from "../common/component.js";
import type { MessagingSettings } from "../config/config.js";
import { MessageLifecycleService } from "../gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../gen/im/v1/message_pb.js";
import type { GroupConfig } from "../groups/config.js";
import type { TipStorer } from "../groups/notifier.js";
import type { GroupMessagingHandlers } from "../groups/service.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { MessageMeter } from "../metrics/meters.js";
import type { KeywordFilter } from "../moderation/keyword-filter.js";
import type { Tracing } from "../tracing/tracing.js";
import type { WebhookClient } from "../webhooks/index.js";
import { createHistory } from "./c2c/history.js";
import { createC2cKind } from "./c2c/kind.js";
import type { C2CSendPolicy } from "./c2c/send-policy.js";
import { createMessageService } from "./c2c/service.js";
import type { MessageStore } from "./c2c/store.js";
import { createClaimSweeper, createSendClaims } from "./claims.js";
import { createDeleter } from "./delete.js";
import type { DeletedForMeStore } from "./deleted-for-me-store.js";
import { createEditor, type EditableMessage } from "./edit.js";
import { createFanoutHandler, type FanoutDeps, fanoutWorkOf } from "./fanout.js";
import { createGroupHistory, type GroupReadState, type MemberOf } from "./group/history.js";
import { createGroupKind } from "./group/kind.js";
import { createGroupRateLimiter } from "./group/rate-limiter.js";
import { createSendGroupSystemMessage } from "./group/send-system-message.js";
import { createGroupMessagingHandlers } from "./group/service.js";
import type { GroupMessageStore } from "./group/store.js";
import { createTipStorer } from "./group/tip-storer.js";
import type { Content, ConversationKind } from "./kind.js";
import { createMessageLifecycleService } from "./lifecycle-service.js";
import { createOutbox, outboxSourceOf } from "./outbox.js";
import { createConversationPipeline } from "./pipeline.js";
import type { ReadObserver } from "./read-observer.js";
import { createRecaller } from "./recall.js";
import { createRecoveryLease } from "./recovery-lease.js";
import type { StoredMessage } from "./store.js";
import { createUnreadTotal, type UnreadTotal } from "./unread-total.js";

export interface ConversationsSetupDeps {
  storage: {
    /** One-to-one messages, conversation lists and the send claims of every kind. */
    messages: MessageStore;
    groupMessages: GroupMessageStore;
    /** What users deleted for themselves, in conversations of every kind. */
    deletedForMe: DeletedForMeStore;
    groups: GroupStore;
    groupMembers: GroupMemberStore;
    accounts: Pick<AccountStore, "selectExistingUserIds">;
  };
  /**
   * The group stores as group sends read them (the app passes cached ones,
   * see src/caches); defaults to `storage`'s.
   */
  groupSendStores?: { groups: GroupStore; members: GroupMemberStore };
  /** Who may message whom one-to-one (the relationship chain's policy). */
  c2cPolicy: C2CSendPolicy;
  bus: Pick<
    Bus,
    "publish" | "flushLive" | "isConnected" | "onConnectionChange" | "openKv" | "registry"
  >;
  live: LiveHub;
  webhooks: WebhookClient;
  settings: MessagingSettings;
  groupConfig: GroupConfig;
  clock: Clock;
  logger: Logger;
  /** Sends, fan-out and lag; off when unset. */
  meter?: MessageMeter;
  /** Spans for the store write, the publish and fan-out; off when unset. */
  tracing?: Tracing;
  /** Offline push work of stored messages (the push component); unset: no push. */
  enqueuePush?: FanoutDeps["enqueuePush"];

  /** Told of reads and syncs of every kind (receipts); none when unset. */
  readObserver?: ReadObserver;

  /** Keyword moderation of every kind's sends (admins exempt); off when unset. */
  keywords?: Pick<KeywordFilter, "moderate">;
}

/**
 * What group management uses of group conversations: the message RPCs of
 * GroupService (served with the management RPCs), tips stored as messages,
 * history deleted on disband, and a member's unread count.
 */
export interface GroupMessagingApi {
  handlers: GroupMessagingHandlers;
  storeTip: TipStorer;
  deleteHistory(groupId: string): Promise<void>;
  /** A user's unread counts and mentions in many groups (a joined-groups page). */
  readStatesOf(userId: string, of: readonly MemberOf[]): Promise<GroupReadState[]>;
}

export interface ConversationsComponent extends Component {
  group: GroupMessagingApi;
  /** A user's total unread over their recent conversations and groups (the push badge). */
  unreadTotal: UnreadTotal;
  /** Publishes not yet confirmed by the bus, per kind (a metrics sample). */
  outboxInFlight(): Record<string, number>;
  /** Per kind, messages (of any node) unpublished past the stale age, awaiting recovery. */
  outboxStale(): Promise<Record<string, number>>;
}

/** How often old send claims are swept. */
const CLAIM_SWEEP_MS = 60_000;

/**
 * Conversations: one pipeline, with one-to-one and group as its kinds. Serves
 * MessageService and MessageLifecycleService (recall, for every kind;
 * GroupService's message RPCs go through `group`), owns the
 * fan-out subjects of its kinds, and runs an outbox per kind and the claim sweeper.
 */
export function setupConversations(deps: ConversationsSetupDeps): ConversationsComponent {
  const { storage, bus, clock, logger, settings, webhooks, live } = deps;
  const claims = createSendClaims({
    store: storage.messages,
    clock,
    maxBatch: settings.writeBatchMax,
  });
  const workers: Worker[] = [createClaimSweeper({ claims, logger, intervalMs: CLAIM_SWEEP_MS })];
  const busHandlers: Record<string, ReturnType<typeof createFanoutHandler>> = {};
  const outboxes: Record<string, { inFlight(): number; stale(): Promise<number> }> = {};
  const observe = {
    ...(deps.meter === undefined ? {} : { meter: deps.meter }),
    ...(deps.tracing === undefined ? {} : { tracing: deps.tracing }),
  };
  const { keywords } = deps;
  // App administrators' sends (server integrations) are not moderated.
  const moderate =
    keywords === undefined
      ? undefined
      : (caller: Caller, content: Content) =>
          caller.isAdmin ? content : keywords.moderate(content);

  // Renewed on every outbox pass; a dead holder's lease lapses after a few passes.
  const recoveryLeaseTtlMs = 5 * settings.outboxIntervalMs;
  const recoveryLease = createRecoveryLease({
    openKv: () => bus.openKv("outbox-lease", { ttlMs: recoveryLeaseTtlMs }),
    ttlMs: recoveryLeaseTtlMs,
    clock,
    logger,
  });

  /** The pipeline, outbox and fan-out of one kind. */
  const plug = <Req, M extends EditableMessage, R extends StoredMessage<M>, Res>(
    kind: ConversationKind<Req, M, R, Res>,
  ) => {
    claims.keepFor(kind.dedupWindowMs);
    const fanout: FanoutDeps = {
      webhooks,
      logger,
      clock,
      ...observe,
      ...(deps.enqueuePush === undefined ? {} : { enqueuePush: deps.enqueuePush }),
    };
    const outbox = createOutbox({
      source: outboxSourceOf(kind),
      bus,
      clock,
      logger,
      intervalMs: settings.outboxIntervalMs,
      staleMs: settings.outboxStaleMs,
      recoveryLease,
      ...observe,
      // Decided from what is configured: without webhooks or push, a confirmed
      // live delivery is the whole fan-out and the bus round trip is skipped.
      fanoutWork: fanoutWorkOf(kind, fanout),
    });
    outboxes[kind.name] = outbox;
    workers.push({ name: `${kind.name}-outbox`, start: outbox.start, stop: outbox.stop });
    busHandlers[kind.subject] = createFanoutHandler(kind, fanout);
    const recaller = createRecaller(kind, {
      outbox,
      clock,
      recallWindowMs: settings.recallWindowMs,
    });
    const editor = createEditor(kind, {
      outbox,
      webhooks,
      clock,
      editWindowMs: settings.editWindowMs,
      messageLimits: settings.messageLimits,
      moderate,
    });
    const pipeline = createConversationPipeline(kind, {
      claims,
      claimLeaseMs: settings.claimLeaseMs,
      writeBatchMax: settings.writeBatchMax,
      outbox,
      webhooks,
      clock,
      logger,
      ...observe,
      ...(moderate === undefined ? {} : { moderate }),
    });
    const deleter = createDeleter(kind, {
      outbox,
      deletedForMe: storage.deletedForMe,
      live,
      clock,
      deleteBatchMax: settings.deleteBatchMax,
      deletedForMeMax: settings.deletedForMeMax,
    });
    return { pipeline, lifecycle: { recall: recaller.recall, edit: editor.edit, ...deleter } };
  };

  const { pipeline: c2c, lifecycle: c2cLifecycle } = plug(
    createC2cKind({
      store: storage.messages,
      accounts: storage.accounts,
      live,
      policy: deps.c2cPolicy,
      subject: bus.registry.subjects.c2cMessage,
      clock,
      messageLimits: settings.messageLimits,
      dedupWindowMs: settings.dedupWindowMs,
    }),
  );
  const c2cHistory = createHistory({
    store: storage.messages,
    deletedForMe: storage.deletedForMe,
    live,
    clock,
    retentionMs: settings.retentionMs,
    recentContactsMax: settings.recentContactsMax,
    ...(deps.readObserver === undefined ? {} : { readObserver: deps.readObserver }),
  });

  const groupAccess = { groups: storage.groups, members: storage.groupMembers };
  const { pipeline: group, lifecycle: groupLifecycle } = plug(
    createGroupKind({
      ...(deps.groupSendStores ?? groupAccess),
      current: groupAccess,
      accounts: storage.accounts,
      messages: storage.groupMessages,
      live,
      limiter: createGroupRateLimiter({ limit: deps.groupConfig.messagesPerSecond, clock }),
      subject: bus.registry.subjects.groupMessage,
      config: deps.groupConfig,
      clock,
      logger,
      messageLimits: settings.messageLimits,
    }),
  );
  const groupHistory = createGroupHistory({
    ...groupAccess,
    messages: storage.groupMessages,
    deletedForMe: storage.deletedForMe,
    live,
    config: deps.groupConfig,
    clock,
    retentionMs: settings.retentionMs,
    ...(deps.readObserver === undefined ? {} : { readObserver: deps.readObserver }),
  });
  const sendSystem = createSendGroupSystemMessage({
    ...groupAccess,
    live,
    clock,
    messageLimits: settings.messageLimits,
  });

  return {
    group: {
      handlers: createGroupMessagingHandlers(group, sendSystem, groupHistory),
      storeTip: createTipStorer({ pipeline: group, config: deps.groupConfig, logger }),
      // A later group may reuse the id, and its seqs: members' marks and reads go too.
      deleteHistory: async (groupId) => {
        await storage.groupMessages.deleteGroupMessages(groupId);
        await storage.deletedForMe.deleteDeletedForMe(groupId);
        await deps.readObserver?.groupHistoryDeleted(groupId);
      },
      readStatesOf: groupHistory.readStatesOf,
    },
    unreadTotal: createUnreadTotal({
      c2cRecentUnread: c2cHistory.recentUnread,
      members: storage.groupMembers,
      groups: storage.groups,
      groupUnreadOfMany: groupHistory.unreadOfMany,
    }),
    services: [
      (router) => router.service(MessageService, createMessageService(c2c, c2cHistory)),
      (router) =>
        router.service(
          MessageLifecycleService,
          createMessageLifecycleService({ c2c: c2cLifecycle, group: groupLifecycle }),
        ),
    ],
    outboxInFlight: () =>
      Object.fromEntries(Object.entries(outboxes).map(([name, o]) => [name, o.inFlight()])),
    outboxStale: async () =>
      Object.fromEntries(
        await Promise.all(
          Object.entries(outboxes).map(async ([name, o]) => [name, await o.stale()]),
        ),
      ),
    busHandlers,
    workers,
    stop: nothingToStop,
  };
}
