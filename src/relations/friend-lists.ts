import { assertUserIdBatch } from "../common/user-id.js";
import { DomainError, ErrorReason, notFound } from "../errors/domain-error.js";
import type { RelationContext } from "./context.js";
import { friendListsEvent } from "./relation-proto.js";
import { assertListName } from "./relation-rules.js";
import type { FriendListRecord } from "./store.js";

/** A friend list as returned: its name and members ordered by user id. */
export interface FriendListView {
  name: string;
  userIds: string[];
}

const listExists = (name: string, field: string) =>
  new DomainError(
    "already-exists",
    ErrorReason.FRIEND_LIST_EXISTS,
    `a friend list named ${name} exists`,
    {
      field,
    },
  );

/** Friend lists (Tag_SNS_IM_Group): named groups of friends, a friend in any number of them. */
export function createFriendLists(ctx: RelationContext) {
  const { store, limits, clock } = ctx;

  const findList = async (
    ownerId: string,
    name: string,
    field: string,
  ): Promise<FriendListRecord> => {
    assertListName(name, field);
    const list = (await store.selectFriendLists(ownerId)).find((l) => l.name === name);
    if (list === undefined) {
      throw notFound(ErrorReason.FRIEND_LIST_NOT_FOUND, `no friend list named ${name}`, { field });
    }
    return list;
  };

  const viewOf = async (ownerId: string, list: FriendListRecord): Promise<FriendListView> => ({
    name: list.name,
    userIds: (await store.selectFriendListMembers(ownerId)).get(list.listId) ?? [],
  });

  /** Validates `userIds` as friends of the owner; NOT_A_FRIEND names the first that is not. */
  const assertFriends = async (ownerId: string, userIds: readonly string[], field: string) => {
    const ids = assertUserIdBatch(userIds, field, limits.batchMax);
    const found = await store.selectFriends(ownerId, ids);
    const stranger = userIds.findIndex((id) => !found.has(id));
    if (stranger !== -1) {
      throw new DomainError(
        "failed-precondition",
        ErrorReason.NOT_A_FRIEND,
        `${userIds[stranger]} is not a friend`,
        {
          field: `${field}[${stranger}]`,
        },
      );
    }
    return ids;
  };

  const publish = (
    ownerId: string,
    view: FriendListView | undefined,
    deleted: string[],
    renamedFrom = "",
  ) =>
    ctx.publish(ownerId, friendListsEvent(view === undefined ? [] : [view], deleted, renamedFrom));

  return {
    /** Creates a list (at most the configured number per user), optionally with friends in it. */
    async createFriendList(
      actor: string,
      name: string,
      userIds: readonly string[],
    ): Promise<FriendListView> {
      assertListName(name, "name");
      const members = userIds.length === 0 ? [] : await assertFriends(actor, userIds, "user_ids");
      const lists = await store.selectFriendLists(actor);
      if (lists.some((l) => l.name === name)) throw listExists(name, "name");
      if (lists.length >= limits.friendListMax) {
        throw new DomainError(
          "resource-exhausted",
          ErrorReason.FRIEND_LIST_LIMIT_REACHED,
          `at most ${limits.friendListMax} friend lists`,
        );
      }
      const list = { ownerId: actor, listId: ctx.newListId(), name, createdAtMs: clock() };
      if (!(await store.insertFriendList(list))) throw listExists(name, "name");
      await store.addFriendsToList(actor, members, list.listId);
      const view = await viewOf(actor, list);
      publish(actor, view, []);
      return view;
    },

    async renameFriendList(actor: string, name: string, newName: string): Promise<void> {
      assertListName(name, "name");
      assertListName(newName, "new_name");
      const outcome = await store.renameFriendList(actor, name, newName);
      if (outcome === "not-found") {
        throw notFound(ErrorReason.FRIEND_LIST_NOT_FOUND, `no friend list named ${name}`, {
          field: "name",
        });
      }
      if (outcome === "name-taken") throw listExists(newName, "new_name");
      const list = await findList(actor, newName, "new_name");
      publish(actor, await viewOf(actor, list), [], name === newName ? "" : name);
    },

    /** Deletes a list; its members stay friends. */
    async deleteFriendList(actor: string, name: string): Promise<void> {
      assertListName(name, "name");
      const list = await store.deleteFriendList(actor, name);
      if (list === undefined) {
        throw notFound(ErrorReason.FRIEND_LIST_NOT_FOUND, `no friend list named ${name}`, {
          field: "name",
        });
      }
      // Readers already ignore the deleted id; pulling it keeps documents tidy.
      await store.removeFriendsFromList(actor, undefined, list.listId);
      publish(actor, undefined, [name]);
    },

    async addToFriendList(
      actor: string,
      name: string,
      userIds: readonly string[],
    ): Promise<FriendListView> {
      const list = await findList(actor, name, "name");
      const ids = await assertFriends(actor, userIds, "user_ids");
      await store.addFriendsToList(actor, ids, list.listId);
      const view = await viewOf(actor, list);
      publish(actor, view, []);
      return view;
    },

    /** Removes users from a list; users not in it are ignored. */
    async removeFromFriendList(
      actor: string,
      name: string,
      userIds: readonly string[],
    ): Promise<FriendListView> {
      const list = await findList(actor, name, "name");
      const ids = assertUserIdBatch(userIds, "user_ids", limits.batchMax);
      await store.removeFriendsFromList(actor, ids, list.listId);
      const view = await viewOf(actor, list);
      publish(actor, view, []);
      return view;
    },

    /** The named lists (in request order) or all (in creation order), with members. */
    async getFriendLists(actor: string, names: readonly string[]): Promise<FriendListView[]> {
      const [lists, members] = await Promise.all([
        store.selectFriendLists(actor),
        store.selectFriendListMembers(actor),
      ]);
      const chosen =
        names.length === 0
          ? lists
          : names.map((name, i) => {
              const list = lists.find((l) => l.name === name);
              if (list === undefined) {
                throw notFound(ErrorReason.FRIEND_LIST_NOT_FOUND, `no friend list named ${name}`, {
                  field: `names[${i}]`,
                });
              }
              return list;
            });
      return chosen.map((l) => ({ name: l.name, userIds: members.get(l.listId) ?? [] }));
    },
  };
}

export type FriendLists = ReturnType<typeof createFriendLists>;
