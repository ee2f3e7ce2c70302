import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { AccountRecord, AccountStore } from "../accounts/store.js";
import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers } from "../common/component.js";
import { LookupsChangedSchema } from "../gen/im/internal/v1/caches_pb.js";
import {
  AuthorityChangeSchema,
  GroupMembershipChangeSchema,
} from "../gen/im/internal/v1/live_pb.js";
import type {
  GroupMemberRecord,
  GroupMemberStore,
  GroupRecord,
  GroupStore,
} from "../groups/store.js";
import type { FollowedGroup } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import type { RelationLookups } from "../relations/send-policy.js";
import type { RelationPair, RelationStore } from "../relations/store.js";
import { createCachedAccounts } from "./cached-accounts.js";
import {
  createCachedGroupSendStores,
  createNotifyingGroupStores,
  type GroupChanges,
  type GroupMemberRef,
  groupMembersPrefix,
  memberKey,
} from "./cached-groups.js";
import { createCachedGroupsOf, type GroupsOf } from "./cached-groups-of.js";
import {
  createCachedRelationLookups,
  createNotifyingRelations,
  relationKeys,
} from "./cached-relations.js";
import { createLookupCache, type LookupCache } from "./lookup-cache.js";

export interface LookupCacheSettings {
  /** How long a cached fact may be served without an invalidation; 0: no caching. */
  ttlMs: number;
  /** Most entries per cache (accounts, account existence, relation facts, groups, memberships, mutes, users' groups). */
  maxEntries: number;
}

export interface GroupStores {
  groups: GroupStore;
  members: GroupMemberStore;
}

export interface LookupCachesDeps {
  bus: Pick<
    Bus,
    | "publishLive"
    | "subscribeLive"
    | "flushLive"
    | "registry"
    | "isConnected"
    | "onConnectionChange"
  >;
  clock: Clock;
  logger: Logger;
  settings: LookupCacheSettings;
}

/**
 * Hot-path read caches of the send path (docs/architecture.md, "Lookup caches").
 * Wrap a store with them once, in the composition root; every component then
 * reads and writes through the wrapper.
 */
export interface LookupCachesComponent extends Component {
  /** The account store: reads cached, writes invalidate on every node before they return. */
  accounts(store: AccountStore): AccountStore;
  /** The relation store: blocklist and friend writes invalidate on every node before they return. */
  relations(store: RelationStore): RelationStore;
  /** The send policy's reads, cached. */
  relationLookups(
    store: Pick<RelationStore, "selectBlockedAmong" | "selectFriends">,
  ): RelationLookups;
  /** The group stores: writes of what group sends read invalidate on every node before they return. */
  groupStores(stores: GroupStores): GroupStores;
  /** The group stores as the group send path reads them (group, membership, mute cached). */
  groupSendStores(stores: GroupStores): GroupStores;
  /** A user's groups as the live hub reads them at stream open, cached per user. */
  groupsOf(load: GroupsOf): GroupsOf;
  /** Entries held, per cache (metrics, tests). */
  sizes(): Record<string, number>;
}

/**
 * Sets up the lookup caches of this node. A change is invalidated here at
 * once and on every other node over `<ns>.live.lookups` (published and
 * flushed to the bus before the writing call returns; sig invalidations and
 * account deletions also arrive on the live authority subject). Core NATS is
 * at most once, so while the bus is disconnected the caches serve nothing and
 * are emptied when it is back; the TTL bounds what any other loss could serve.
 */
export function setupLookupCaches(deps: LookupCachesDeps): LookupCachesComponent {
  const { bus, clock, logger, settings } = deps;
  const options = { ttlMs: settings.ttlMs, maxEntries: settings.maxEntries, clock };
  const accountRecords = createLookupCache<AccountRecord>(options);
  const accountExists = createLookupCache<true>(options);
  const relationFacts = createLookupCache<boolean>(options);
  const groupRecords = createLookupCache<GroupRecord>(options);
  const groupMembers = createLookupCache<GroupMemberRecord>(options);
  const groupMutes = createLookupCache<number>(options);
  const userGroups = createLookupCache<readonly FollowedGroup[]>(options);
  const all: Record<string, Pick<LookupCache<unknown>, "clear" | "setEnabled" | "size">> = {
    accountRecords,
    accountExists,
    relationFacts,
    groupRecords,
    groupMembers,
    groupMutes,
    userGroups,
  };
  const caches = Object.values(all);

  const dropAccounts = (userIds: readonly string[]) => {
    accountRecords.invalidate(userIds);
    accountExists.invalidate(userIds);
  };
  const dropPairs = (pairs: readonly RelationPair[]) =>
    relationFacts.invalidate(pairs.flatMap(relationKeys));
  const dropGroups = (groupIds: readonly string[]) => {
    groupRecords.invalidate(groupIds);
    for (const groupId of groupIds) {
      groupMembers.invalidatePrefix(groupMembersPrefix(groupId));
      groupMutes.invalidatePrefix(groupMembersPrefix(groupId));
    }
  };
  const dropMembers = (refs: readonly GroupMemberRef[]) => {
    const keys = refs.map((r) => memberKey(r.groupId, r.userId));
    groupMembers.invalidate(keys);
    groupMutes.invalidate(keys);
    userGroups.invalidate(refs.map((r) => r.userId));
  };

  /** Drops here at once, then tells every node; resolves once the bus has it. */
  const changed = async (change: {
    accountIds?: readonly string[];
    pairs?: readonly RelationPair[];
    groups?: GroupChanges;
  }) => {
    const accountIds = change.accountIds ?? [];
    const pairs = change.pairs ?? [];
    const groupIds = change.groups?.groupIds ?? [];
    const members = change.groups?.members ?? [];
    if (accountIds.length + pairs.length + groupIds.length + members.length === 0) return;
    dropAccounts(accountIds);
    dropPairs(pairs);
    dropGroups(groupIds);
    dropMembers(members);
    bus.publishLive(
      bus.registry.liveLookupsSubject,
      toBinary(
        LookupsChangedSchema,
        create(LookupsChangedSchema, {
          accountIds: [...accountIds],
          relationPairs: pairs.map((p) => ({ ownerId: p.ownerId, otherId: p.otherId })),
          groupIds: [...groupIds],
          groupMembers: members.map((m) => ({ groupId: m.groupId, userId: m.userId })),
        }),
      ),
    );
    await bus.flushLive();
  };

  const unsubscribes = [
    bus.subscribeLive(bus.registry.liveLookupsSubject, (data) => {
      try {
        const change = fromBinary(LookupsChangedSchema, data);
        dropAccounts(change.accountIds);
        dropPairs(change.relationPairs);
        dropGroups(change.groupIds);
        dropMembers(change.groupMembers);
      } catch (err) {
        // Unknown what changed: drop everything rather than serve it.
        for (const cache of caches) cache.clear();
        logger.warn("undecodable lookups change: caches cleared", { err });
      }
    }),
    bus.subscribeLive(bus.registry.liveAuthoritySubject, (data) => {
      try {
        dropAccounts(fromBinary(AuthorityChangeSchema, data).userIds);
      } catch (err) {
        accountRecords.clear();
        accountExists.clear();
        logger.warn("undecodable authority change: account caches cleared", { err });
      }
    }),
    // Joins, exits and disbands, as the live streams follow them.
    bus.subscribeLive(bus.registry.liveGroupMembershipSubject, (data) => {
      try {
        const change = fromBinary(GroupMembershipChangeSchema, data);
        if (change.userId !== "") dropMembers([change]);
        else {
          // Disbanded: whose lists held it is not known here, and disbands are rare.
          dropGroups([change.groupId]);
          userGroups.clear();
        }
      } catch (err) {
        groupRecords.clear();
        groupMembers.clear();
        groupMutes.clear();
        userGroups.clear();
        logger.warn("undecodable membership change: group caches cleared", { err });
      }
    }),
  ];

  // Invalidations cannot arrive while the bus is away: serve nothing then, and
  // start empty once the subscriptions are registered again.
  let connectionChanges = 0;
  const follow = (connected: boolean) => {
    const change = ++connectionChanges;
    for (const cache of caches) cache.setEnabled(false);
    if (!connected) return;
    void bus.flushLive().then(() => {
      if (change !== connectionChanges || !bus.isConnected()) return;
      for (const cache of caches) cache.setEnabled(true);
    });
  };
  follow(bus.isConnected());
  unsubscribes.push(bus.onConnectionChange(follow));

  return {
    accounts: (store) =>
      createCachedAccounts({
        store,
        records: accountRecords,
        existing: accountExists,
        changed: (userIds) => changed({ accountIds: userIds }),
      }),
    relations: (store) => createNotifyingRelations(store, (pairs) => changed({ pairs })),
    groupStores: (stores) => createNotifyingGroupStores(stores, (groups) => changed({ groups })),
    groupSendStores: (stores) =>
      createCachedGroupSendStores(stores, {
        records: groupRecords,
        members: groupMembers,
        mutes: groupMutes,
      }),
    relationLookups: (store) => createCachedRelationLookups(store, relationFacts),
    groupsOf: (load) => createCachedGroupsOf(load, userGroups),
    sizes: () => Object.fromEntries(Object.entries(all).map(([name, c]) => [name, c.size()])),
    services: [],
    busHandlers: noBusHandlers,
    workers: [],
    async stop() {
      for (const unsubscribe of unsubscribes) unsubscribe();
      for (const cache of caches) cache.setEnabled(false);
    },
  };
}
