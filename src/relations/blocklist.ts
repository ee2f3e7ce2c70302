import { assertUserIdBatch } from "../common/user-id.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import { type CheckResult, checkResult } from "./check.js";
import type { RelationContext } from "./context.js";
import { type Page, pageOf } from "./paging.js";
import {
  blocklistEvent,
  FriendRequestChange,
  friendRequestEvent,
  friendsChangedEvent,
  requestToProto,
} from "./relation-proto.js";
import type { BlockRecord } from "./store.js";

/** The blocklist: blocked users lose the friendship, cannot request it, and (per config) cannot message. */
export function createBlocklist(ctx: RelationContext) {
  const { store, limits, clock } = ctx;

  /** Removes friendship and pending requests between `ownerId` and `otherId`, telling both sides. */
  const sever = async (ownerId: string, otherId: string) => {
    const deleted = await store.deleteFriends([
      { ownerId, otherId },
      { ownerId: otherId, otherId: ownerId },
    ]);
    for (const p of deleted) ctx.publish(p.ownerId, friendsChangedEvent([], [p.otherId]));
    for (const [from, to] of [
      [ownerId, otherId],
      [otherId, ownerId],
    ] as const) {
      const request = await store.deleteFriendRequest(from, to);
      if (request === undefined) continue;
      const change =
        from === ownerId ? FriendRequestChange.CANCELLED : FriendRequestChange.REJECTED;
      const names = await ctx.listNames(from);
      for (const viewer of [from, to]) {
        ctx.publish(viewer, friendRequestEvent(change, requestToProto(request, viewer, names)));
      }
    }
  };

  return {
    /**
     * Blocks users (existing accounts, not the actor), within the blocklist limit.
     * Then severs friendship and pending requests with every requested user, the
     * already-blocked included, so a retry after a partial failure completes it.
     */
    async addToBlocklist(actor: string, userIds: readonly string[]) {
      const ids = assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const self = userIds.indexOf(actor);
      if (self !== -1) {
        throw new DomainError(
          "invalid-argument",
          ErrorReason.SELF_RELATION,
          "you cannot block yourself",
          {
            field: `user_ids[${self}]`,
          },
        );
      }
      await ctx.assertUsersExist(userIds, (i) => `user_ids[${i}]`);
      const already = await store.selectBlockedAmong(actor, ids);
      const fresh = ids.filter((id) => !already.has(id));
      if ((await store.countBlocks(actor)) + fresh.length > limits.blocklistMax) {
        throw new DomainError(
          "resource-exhausted",
          ErrorReason.BLOCKLIST_LIMIT_REACHED,
          `at most ${limits.blocklistMax} blocked users`,
          { field: "user_ids" },
        );
      }
      const inserted = new Set(await store.insertBlocks(actor, fresh, clock()));
      for (const id of ids) await sever(actor, id);
      const added = ids.filter((id) => inserted.has(id));
      if (added.length > 0) ctx.publish(actor, blocklistEvent(added, []));
      return { added, existing: ids.filter((id) => !inserted.has(id)) };
    },

    async removeFromBlocklist(actor: string, userIds: readonly string[]) {
      const ids = assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const removed = await store.deleteBlocks(actor, ids);
      if (removed.length > 0) ctx.publish(actor, blocklistEvent([], removed));
      const gone = new Set(removed);
      return { removed, notBlocked: ids.filter((id) => !gone.has(id)) };
    },

    async listBlocklist(actor: string, page: Page) {
      const { items, nextCursor } = await pageOf(
        page,
        (b: BlockRecord) => b.blockedId,
        (after, limit) => store.selectBlocksPage(actor, after, limit),
      );
      return { blocked: items, nextCursor, total: await store.countBlocks(actor) };
    },

    /** One result per requested id, in request order; "has" means "has blocked". */
    async checkBlocklist(
      actor: string,
      userIds: readonly string[],
      both: boolean,
    ): Promise<{ userId: string; result: CheckResult }[]> {
      assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      const [mine, theirs] = await Promise.all([
        store.selectBlockedAmong(actor, userIds),
        both ? store.selectBlockersAmong(actor, userIds) : Promise.resolve(new Set<string>()),
      ]);
      return userIds.map((userId) => ({
        userId,
        result: checkResult(mine.has(userId), theirs.has(userId), both),
      }));
    },
  };
}

export type Blocklist = ReturnType<typeof createBlocklist>;
