import { assertBatch } from "../common/batch.js";
import { assertUserId, assertUserIdBatch } from "../common/user-id.js";
import {
  DomainError,
  ErrorReason,
  invalidField,
  notFound,
  permissionDenied,
} from "../errors/domain-error.js";
import type { CustomValue } from "../profiles/custom-fields.js";
import { type CheckResult, checkResult } from "./check.js";
import type { RelationContext } from "./context.js";
import type { Page } from "./paging.js";
import { pageOf } from "./paging.js";
import {
  FriendRequestChange,
  friendRequestEvent,
  friendsChangedEvent,
  friendToProto,
  type ListNames,
  requestToProto,
} from "./relation-proto.js";
import {
  assertListName,
  assertRemark,
  assertSource,
  assertWording,
  customFriendChange,
} from "./relation-rules.js";
import type { Direction, FriendRecord, FriendRequestRecord } from "./store.js";

export interface AddFriendInput {
  toUserId: string;
  direction: Direction;
  remark: string;
  source: string;
  wording: string;
  friendLists: readonly string[];
}

export type AddFriendResult =
  | { outcome: "added"; friend: FriendRecord; names: ListNames }
  | { outcome: "pending"; request: FriendRequestRecord; names: ListNames };

export interface ImportedFriendInput {
  userId: string;
  remark: string;
  source: string;
  wording: string;
  friendLists: readonly string[];
  addedAtMs: number;
  custom: Readonly<Record<string, CustomValue | undefined>>;
}

export interface UpdateFriendInput {
  friendId: string;
  remark: string | undefined;
  /** Replace the friend's lists with these names; undefined keeps them. */
  friendLists: readonly string[] | undefined;
  custom: Readonly<Record<string, CustomValue | undefined>>;
}

const friendLimit = (field: string, max: number) =>
  new DomainError(
    "resource-exhausted",
    ErrorReason.FRIEND_LIMIT_REACHED,
    `at most ${max} friends`,
    {
      field,
    },
  );

/** Friends and friend requests. */
export function createFriends(ctx: RelationContext) {
  const { store, limits, clock } = ctx;

  /** Throws FRIEND_LIMIT_REACHED when `ownerId` cannot take `adding` more friends. */
  const assertRoom = async (ownerId: string, adding: number, field: string) => {
    if (adding === 0) return;
    if ((await store.countFriends(ownerId)) + adding > limits.friendMax) {
      throw friendLimit(field, limits.friendMax);
    }
  };

  const has = async (ownerId: string, otherId: string) =>
    (await store.selectFriends(ownerId, [otherId])).has(otherId);

  /** Requests are shown to both sides, each with its own view. */
  const publishRequest = async (change: FriendRequestChange, r: FriendRequestRecord) => {
    const names = await ctx.listNames(r.fromUserId);
    for (const viewer of [r.fromUserId, r.toUserId]) {
      ctx.publish(viewer, friendRequestEvent(change, requestToProto(r, viewer, names)));
    }
  };

  const publishUpserted = async (records: readonly FriendRecord[]) => {
    const byOwner = new Map<string, FriendRecord[]>();
    for (const r of records) byOwner.set(r.ownerId, [...(byOwner.get(r.ownerId) ?? []), r]);
    for (const [ownerId, owned] of byOwner) {
      const names = await ctx.listNames(ownerId);
      ctx.publish(
        ownerId,
        friendsChangedEvent(
          owned.map((f) => friendToProto(f, names)),
          [],
        ),
      );
    }
  };

  /** Refuses requests between users where either blocked the other. */
  const assertNotBlocked = async (fromUserId: string, toUserId: string) => {
    if ((await store.selectBlockedAmong(fromUserId, [toUserId])).size > 0) {
      throw permissionDenied(ErrorReason.PEER_IN_BLOCKLIST, "you have blocked this user", {
        field: "to_user_id",
      });
    }
    if ((await store.selectBlockedAmong(toUserId, [fromUserId])).size > 0) {
      throw permissionDenied(ErrorReason.BLOCKED_BY_PEER, "this user has blocked you", {
        field: "to_user_id",
      });
    }
  };

  return {
    /**
     * Adds `input.toUserId` to `actor`'s friends, at once or as a pending request
     * (see RelationService.AddFriend). When the target already has the actor as a
     * friend, no confirmation is needed: they chose the actor already.
     */
    async addFriend(actor: string, input: AddFriendInput): Promise<AddFriendResult> {
      const target = input.toUserId;
      assertUserId(target, "to_user_id");
      if (target === actor) {
        throw new DomainError(
          "invalid-argument",
          ErrorReason.SELF_RELATION,
          "you cannot add yourself",
          {
            field: "to_user_id",
          },
        );
      }
      assertRemark(input.remark, "remark");
      assertSource(input.source, "source");
      assertWording(input.wording, "wording");
      input.friendLists.forEach((n, i) => {
        assertListName(n, `friend_lists[${i}]`);
      });
      const listIds = await ctx.listIdsByName(actor, input.friendLists, "friend_lists");
      await ctx.assertUsersExist([target], () => "to_user_id");
      const [actorSettings, targetSettings] = await Promise.all([
        ctx.friendRequestSettings(actor),
        ctx.friendRequestSettings(target),
      ]);
      if (actorSettings.adminForbidType === "AdminForbid_Type_SendOut") {
        throw permissionDenied(
          ErrorReason.FRIEND_REQUEST_FORBIDDEN,
          "an administrator forbade you to send friend requests",
        );
      }
      await assertNotBlocked(actor, target);
      const both = input.direction === "both";
      const [aHasB, bHasA] = await Promise.all([has(actor, target), has(target, actor)]);
      if (aHasB && (!both || bHasA)) {
        throw new DomainError("already-exists", ErrorReason.ALREADY_FRIENDS, "already friends", {
          field: "to_user_id",
        });
      }
      const now = clock();

      if (bHasA || targetSettings.allowType === "AllowType_Type_AllowAny") {
        await assertRoom(actor, aHasB ? 0 : 1, "as_user_id");
        if (both) await assertRoom(target, bHasA ? 0 : 1, "to_user_id");
        const entry: FriendRecord = {
          ownerId: actor,
          friendId: target,
          remark: input.remark,
          source: input.source,
          wording: input.wording,
          listIds,
          custom: {},
          addedAtMs: now,
        };
        const back: FriendRecord = {
          ...entry,
          ownerId: target,
          friendId: actor,
          remark: "",
          listIds: [],
        };
        const records = [...(aHasB ? [] : [entry]), ...(both && !bHasA ? [back] : [])];
        await store.insertFriends(records);
        const pending = await store.deleteFriendRequest(actor, target);
        if (pending !== undefined) await publishRequest(FriendRequestChange.ACCEPTED, pending);
        await publishUpserted(records);
        const stored = (await store.selectFriends(actor, [target])).get(target) ?? entry;
        return { outcome: "added", friend: stored, names: await ctx.listNames(actor) };
      }

      if (targetSettings.allowType === "AllowType_Type_DenyAny") {
        throw permissionDenied(
          ErrorReason.FRIEND_REQUEST_DENIED,
          "this user accepts no friend requests",
          {
            field: "to_user_id",
          },
        );
      }
      const repeated = (await store.selectFriendRequest(actor, target)) !== undefined;
      if (!repeated) {
        const [sent, received] = await Promise.all([
          store.countFriendRequests(actor, "outgoing"),
          store.countFriendRequests(target, "incoming"),
        ]);
        if (sent >= limits.pendingRequestMax || received >= limits.pendingRequestMax) {
          throw new DomainError(
            "resource-exhausted",
            ErrorReason.PENDING_REQUEST_LIMIT_REACHED,
            `at most ${limits.pendingRequestMax} pending friend requests`,
            { field: sent >= limits.pendingRequestMax ? "as_user_id" : "to_user_id" },
          );
        }
      }
      const request: FriendRequestRecord = {
        fromUserId: actor,
        toUserId: target,
        direction: input.direction,
        wording: input.wording,
        source: input.source,
        remark: input.remark,
        listIds,
        createdAtMs: now,
      };
      await store.upsertFriendRequest(request);
      await publishRequest(FriendRequestChange.CREATED, request);
      return { outcome: "pending", request, names: await ctx.listNames(actor) };
    },

    /**
     * Accepts the pending request from `fromUserId` to `actor`: the requester gets
     * the actor as a friend, and the actor gets the requester too when the request
     * was two-way or `addBack` is set. Returns whether the actor added back.
     */
    async acceptFriendRequest(
      actor: string,
      fromUserId: string,
      opts: { addBack: boolean; remark: string; friendLists: readonly string[] },
    ): Promise<{ addedBack: boolean }> {
      assertUserId(fromUserId, "from_user_id");
      assertRemark(opts.remark, "remark");
      const listIds = await ctx.listIdsByName(actor, opts.friendLists, "friend_lists");
      const request = await store.selectFriendRequest(fromUserId, actor);
      if (request === undefined) {
        throw notFound(ErrorReason.FRIEND_REQUEST_NOT_FOUND, "no pending request from this user", {
          field: "from_user_id",
        });
      }
      const both = request.direction === "both" || opts.addBack;
      const [requesterHas, actorHas] = await Promise.all([
        has(fromUserId, actor),
        has(actor, fromUserId),
      ]);
      await assertRoom(fromUserId, requesterHas ? 0 : 1, "from_user_id");
      if (both) await assertRoom(actor, actorHas ? 0 : 1, "as_user_id");
      const now = clock();
      const forRequester: FriendRecord = {
        ownerId: fromUserId,
        friendId: actor,
        remark: request.remark,
        source: request.source,
        wording: request.wording,
        listIds: request.listIds,
        custom: {},
        addedAtMs: now,
      };
      const forActor: FriendRecord = {
        ...forRequester,
        ownerId: actor,
        friendId: fromUserId,
        remark: opts.remark,
        listIds,
      };
      const records = [
        ...(requesterHas ? [] : [forRequester]),
        ...(both && !actorHas ? [forActor] : []),
      ];
      await store.insertFriends(records);
      await store.deleteFriendRequest(fromUserId, actor);
      await publishRequest(FriendRequestChange.ACCEPTED, request);
      await publishUpserted(records);
      return { addedBack: both };
    },

    /** Rejects the pending request from `fromUserId` to `actor`. */
    async rejectFriendRequest(actor: string, fromUserId: string): Promise<void> {
      assertUserId(fromUserId, "from_user_id");
      const request = await store.deleteFriendRequest(fromUserId, actor);
      if (request === undefined) {
        throw notFound(ErrorReason.FRIEND_REQUEST_NOT_FOUND, "no pending request from this user", {
          field: "from_user_id",
        });
      }
      await publishRequest(FriendRequestChange.REJECTED, request);
    },

    /** Withdraws `actor`'s pending request to `toUserId`. */
    async cancelFriendRequest(actor: string, toUserId: string): Promise<void> {
      assertUserId(toUserId, "to_user_id");
      const request = await store.deleteFriendRequest(actor, toUserId);
      if (request === undefined) {
        throw notFound(ErrorReason.FRIEND_REQUEST_NOT_FOUND, "no pending request to this user", {
          field: "to_user_id",
        });
      }
      await publishRequest(FriendRequestChange.CANCELLED, request);
    },

    async listFriendRequests(actor: string, direction: "incoming" | "outgoing") {
      return {
        requests: await store.selectFriendRequests(actor, direction),
        names: await ctx.listNames(actor),
      };
    },

    /**
     * Administrators: adds one-way friends to `ownerId` without asking them. The
     * whole batch (ids, fields, accounts, limits) is validated before anything is
     * written; missing lists are created. Already-present friends are left as they are.
     */
    async importFriends(ownerId: string, items: readonly ImportedFriendInput[]) {
      assertUserId(ownerId, "user_id");
      assertBatch(items, "friends", limits.batchMax);
      const seen = new Set<string>();
      const wantedLists: string[] = [];
      const prepared = items.map((item, i) => {
        const at = (f: string) => `friends[${i}].${f}`;
        assertUserId(item.userId, at("user_id"));
        if (item.userId === ownerId) {
          throw new DomainError(
            "invalid-argument",
            ErrorReason.SELF_RELATION,
            "you cannot add yourself",
            {
              field: at("user_id"),
            },
          );
        }
        if (seen.has(item.userId)) throw invalidField(at("user_id"), "duplicate user id");
        seen.add(item.userId);
        assertRemark(item.remark, at("remark"));
        assertSource(item.source, at("source"));
        assertWording(item.wording, at("wording"));
        item.friendLists.forEach((n, j) => {
          assertListName(n, `${at("friend_lists")}[${j}]`);
          if (!wantedLists.includes(n)) wantedLists.push(n);
        });
        if (item.addedAtMs < 0) throw invalidField(at("added_at_ms"), "must not be negative");
        const custom = customFriendChange(ctx.customDefs, item.custom, at("custom_fields"));
        return { item, custom: custom.set };
      });
      await ctx.assertUsersExist([ownerId], () => "user_id");
      const ids = items.map((x) => x.userId);
      await ctx.assertUsersExist(ids, (i) => `friends[${i}].user_id`);
      const existing = await store.selectFriends(ownerId, ids);
      await assertRoom(ownerId, ids.length - existing.size, "user_id");
      const lists = await store.selectFriendLists(ownerId);
      const missingLists = wantedLists.filter((n) => !lists.some((l) => l.name === n));
      if (lists.length + missingLists.length > limits.friendListMax) {
        throw new DomainError(
          "resource-exhausted",
          ErrorReason.FRIEND_LIST_LIMIT_REACHED,
          `at most ${limits.friendListMax} friend lists`,
          { field: "friends" },
        );
      }
      const now = clock();
      for (const name of missingLists) {
        await store.insertFriendList({ ownerId, listId: ctx.newListId(), name, createdAtMs: now });
      }
      const idByName = new Map(
        (await store.selectFriendLists(ownerId)).map((l) => [l.name, l.listId]),
      );
      const records: FriendRecord[] = prepared
        .filter(({ item }) => !existing.has(item.userId))
        .map(({ item, custom }) => ({
          ownerId,
          friendId: item.userId,
          remark: item.remark,
          source: item.source,
          wording: item.wording,
          listIds: item.friendLists
            .map((n) => idByName.get(n))
            .filter((id): id is string => id !== undefined),
          custom,
          addedAtMs: item.addedAtMs === 0 ? now : item.addedAtMs,
        }));
      const inserted = new Set((await store.insertFriends(records)).map((p) => p.otherId));
      await publishUpserted(records.filter((r) => inserted.has(r.friendId)));
      return {
        added: ids.filter((id) => inserted.has(id)),
        existing: ids.filter((id) => !inserted.has(id)),
      };
    },

    /** Changes one friend's remark, lists or custom fields (validated first). */
    async updateFriend(actor: string, input: UpdateFriendInput) {
      assertUserId(input.friendId, "user_id");
      if (input.remark !== undefined) assertRemark(input.remark, "remark");
      input.friendLists?.forEach((n, i) => {
        assertListName(n, `friend_lists[${i}]`);
      });
      const custom = customFriendChange(ctx.customDefs, input.custom, "custom_fields");
      const listIds =
        input.friendLists === undefined
          ? undefined
          : await ctx.listIdsByName(actor, input.friendLists, "friend_lists");
      const updated = await store.updateFriend(actor, input.friendId, {
        ...(input.remark === undefined ? {} : { remark: input.remark }),
        ...(listIds === undefined ? {} : { listIds }),
        setCustom: custom.set,
        unsetCustom: custom.unset,
      });
      if (updated === undefined) {
        throw new DomainError("failed-precondition", ErrorReason.NOT_A_FRIEND, "not a friend", {
          field: "user_id",
        });
      }
      await publishUpserted([updated]);
      return { friend: updated, names: await ctx.listNames(actor) };
    },

    /**
     * Removes `userIds` from `actor`'s friends and, for "both", `actor` from
     * theirs. Each user is reported deleted when any removed entry involved them.
     */
    async deleteFriends(actor: string, userIds: readonly string[], direction: Direction) {
      const ids = assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const pairs = ids.flatMap((id) => [
        { ownerId: actor, otherId: id },
        ...(direction === "both" ? [{ ownerId: id, otherId: actor }] : []),
      ]);
      const deleted = await store.deleteFriends(pairs);
      const gone = new Set<string>();
      const lostActor: string[] = [];
      for (const p of deleted) {
        if (p.ownerId === actor) gone.add(p.otherId);
        else {
          gone.add(p.ownerId);
          lostActor.push(p.ownerId);
        }
      }
      const removedFromActor = ids.filter((id) =>
        deleted.some((p) => p.ownerId === actor && p.otherId === id),
      );
      if (removedFromActor.length > 0)
        ctx.publish(actor, friendsChangedEvent([], removedFromActor));
      for (const other of lostActor) ctx.publish(other, friendsChangedEvent([], [actor]));
      return {
        deleted: ids.filter((id) => gone.has(id)),
        notFriends: ids.filter((id) => !gone.has(id)),
      };
    },

    async listFriends(actor: string, page: Page) {
      const { items, nextCursor } = await pageOf(
        page,
        (f: FriendRecord) => f.friendId,
        (after, limit) => store.selectFriendsPage(actor, after, limit),
      );
      const [total, names] = await Promise.all([store.countFriends(actor), ctx.listNames(actor)]);
      return { friends: items, nextCursor, total, names };
    },

    /** The requested users that are friends of `actor`, in request order, and those that are not. */
    async getFriends(actor: string, userIds: readonly string[]) {
      const ids = assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const found = await store.selectFriends(actor, ids);
      return {
        friends: ids.flatMap((id) => {
          const f = found.get(id);
          return f === undefined ? [] : [f];
        }),
        notFriends: ids.filter((id) => !found.has(id)),
        names: await ctx.listNames(actor),
      };
    },

    /** One result per requested id, in request order (duplicates included). */
    async checkFriends(
      actor: string,
      userIds: readonly string[],
      both: boolean,
    ): Promise<{ userId: string; result: CheckResult }[]> {
      assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const [mine, theirs] = await Promise.all([
        store.selectFriends(actor, userIds),
        both ? store.selectFriendOwners(actor, userIds) : Promise.resolve([]),
      ]);
      const owners = new Set(theirs);
      return userIds.map((userId) => ({
        userId,
        result: checkResult(mine.has(userId), owners.has(userId), both),
      }));
    },
  };
}

export type Friends = ReturnType<typeof createFriends>;
