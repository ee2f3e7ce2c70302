import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Clock } from "../common/clock.js";
import { type SubscribeResponse, SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessageSchema,
  type GroupTip,
  GroupTipSchema,
  type JoinApplication,
  MessageReceiveOption,
} from "../gen/im/v1/group_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { GroupConfig } from "./config.js";
import type { TipPolicy } from "./group-types.js";
import type { GroupRecord } from "./store.js";

/**
 * Where live group events go (the live hub): one publish per group reaches
 * every online member's streams; no member list is expanded.
 */
export type GroupLive = Pick<
  LiveHub,
  "publishToUsers" | "publishToGroup" | "changeGroupMembership" | "closeGroup"
>;

/**
 * Stores a tip as a group message (gives it a seq) where the type's policy says
 * "store". Returns the stored message, or undefined when it could not be stored
 * (then it is delivered unstored). Supplied by group messaging.
 */
export type TipStorer = (
  group: GroupRecord,
  message: GroupMessage,
) => Promise<GroupMessage | undefined>;

export interface GroupNotifierDeps {
  live: GroupLive;
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  storeTip?: TipStorer;
}

export interface TipOptions {
  /** Also tell these users (e.g. the removed or quitting ones, who are no longer members). */
  alsoTo?: readonly string[];
}

export interface GroupNotifier {
  /**
   * Announces a tip to the group per `policy`: "off" nothing, "notify" live only,
   * "store" stored (with a seq) and live. Runs in the background, in order per group.
   */
  tip(
    group: GroupRecord,
    tip: MessageInitShape<typeof GroupTipSchema>,
    policy: TipPolicy,
    options?: TipOptions,
  ): void;
  /** A tip to the given users only, not stored (created, disbanded, rejected). */
  tipTo(
    group: GroupRecord,
    tip: MessageInitShape<typeof GroupTipSchema>,
    userIds: readonly string[],
  ): void;
  /** Announces a tip to every member before the group is deleted; awaited by disband. */
  tipAllNow(group: GroupRecord, tip: MessageInitShape<typeof GroupTipSchema>): Promise<void>;
  /** The users' open streams start (joined) or stop following the group's live traffic. */
  followers(group: GroupRecord, userIds: readonly string[], joined: boolean): void;
  /** A member's receive option changed: their streams get the group's messages or only its tips. */
  receiveOptionChanged(group: GroupRecord, userId: string, option: MessageReceiveOption): void;
  /** Tells approvers about a join application. */
  application(userIds: readonly string[], application: JoinApplication): void;
  /** Resolves once every queued announcement has gone out (tests, shutdown). */
  drain(): Promise<void>;
}

export function createGroupNotifier(deps: GroupNotifierDeps): GroupNotifier {
  const { live, config, clock, logger } = deps;
  // Per-group chains keep tips in the order the operations happened.
  const chains = new Map<string, Promise<void>>();
  const enqueue = (groupId: string, work: () => Promise<void>) => {
    const next = (chains.get(groupId) ?? Promise.resolve()).then(work).catch((err: unknown) => {
      logger.warn("group tip delivery failed", { groupId, err });
    });
    chains.set(groupId, next);
    void next.then(() => {
      if (chains.get(groupId) === next) chains.delete(groupId);
    });
  };

  const tipMessage = (
    group: GroupRecord,
    tip: MessageInitShape<typeof GroupTipSchema>,
  ): GroupMessage =>
    create(GroupMessageSchema, {
      groupId: group.groupId,
      kind: GroupMessageKind.TIP,
      timeMs: BigInt(clock()),
      tip: create(GroupTipSchema, tip),
    });
  const eventOf = (message: GroupMessage): SubscribeResponse =>
    create(SubscribeResponseSchema, { event: { case: "groupMessage", value: message } });

  const announce = async (
    group: GroupRecord,
    tip: MessageInitShape<typeof GroupTipSchema>,
    policy: TipPolicy,
    alsoTo: readonly string[],
  ) => {
    let message = tipMessage(group, tip);
    if (policy === "store" && config.traits[group.type].storesHistory && deps.storeTip) {
      message = (await deps.storeTip(group, message)) ?? message;
    }
    const event = eventOf(message);
    const extra = [...new Set(alsoTo)];
    live.publishToUsers(extra, event);
    live.publishToGroup(group.groupId, event, { exceptUserIds: extra });
  };

  return {
    tip(group, tip, policy, options = {}) {
      if (policy === "off") return;
      enqueue(group.groupId, () => announce(group, tip, policy, options.alsoTo ?? []));
    },
    tipTo(group, tip, userIds) {
      enqueue(group.groupId, async () => {
        const event = eventOf(tipMessage(group, tip));
        live.publishToUsers(new Set(userIds), event);
      });
    },
    async tipAllNow(group, tip) {
      // Behind whatever is queued for the group, so "disbanded" comes last.
      await (chains.get(group.groupId) ?? Promise.resolve());
      live.publishToGroup(group.groupId, eventOf(tipMessage(group, tip)));
      live.closeGroup(group.groupId);
    },
    followers(group, userIds, joined) {
      const discarding =
        config.traits[group.type].defaultReceiveOption === MessageReceiveOption.DISCARD;
      for (const userId of userIds) {
        live.changeGroupMembership(
          group.groupId,
          userId,
          joined ? { member: true, discarding } : { member: false },
        );
      }
    },
    receiveOptionChanged(group, userId, option) {
      live.changeGroupMembership(group.groupId, userId, {
        member: true,
        discarding: option === MessageReceiveOption.DISCARD,
      });
    },
    application(userIds, application) {
      const event = create(SubscribeResponseSchema, {
        event: { case: "joinApplication", value: application },
      });
      live.publishToUsers(new Set(userIds), event);
    },
    async drain() {
      while (chains.size > 0) await Promise.all([...chains.values()]);
    },
  };
}

export type { GroupTip };
