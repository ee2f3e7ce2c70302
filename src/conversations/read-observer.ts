import type { GroupRecord } from "../groups/store.js";

/**
 * Told when a user's progress in a conversation moves (the receipts
 * component): awaited, so a read or sync answered is a receipt recorded.
 */
export interface ReadObserver {
  /** `ownerUserId` read the one-to-one conversation with `peerUserId` up to `readSeq`. */
  c2cRead(
    ownerUserId: string,
    peerUserId: string,
    conversationId: string,
    readSeq: number,
  ): Promise<void>;
  /** A device of `ownerUserId` synced the conversation up to `seq` (it holds those messages). */
  c2cSynced(
    ownerUserId: string,
    peerUserId: string,
    conversationId: string,
    seq: number,
  ): Promise<void>;
  /** A member read the group from above `afterSeq` up to `readSeq`. */
  groupRead(group: GroupRecord, userId: string, afterSeq: number, readSeq: number): Promise<void>;
  /** The group's history is gone (disband): so is what was recorded of its reads. */
  groupHistoryDeleted(groupId: string): Promise<void>;
}

/** The parts of a read observer a listener needs; the rest it is not told. */
export type ReadListener = Partial<ReadObserver>;

/** Tells `first` and then each listener (all awaited): receipts and other read listeners composed. */
export function withReadListeners(
  first: ReadObserver,
  ...listeners: readonly ReadListener[]
): ReadObserver {
  return {
    async c2cRead(owner, peer, conversationId, readSeq) {
      await first.c2cRead(owner, peer, conversationId, readSeq);
      for (const l of listeners) await l.c2cRead?.(owner, peer, conversationId, readSeq);
    },
    async c2cSynced(owner, peer, conversationId, seq) {
      await first.c2cSynced(owner, peer, conversationId, seq);
      for (const l of listeners) await l.c2cSynced?.(owner, peer, conversationId, seq);
    },
    async groupRead(group, userId, afterSeq, readSeq) {
      await first.groupRead(group, userId, afterSeq, readSeq);
      for (const l of listeners) await l.groupRead?.(group, userId, afterSeq, readSeq);
    },
    async groupHistoryDeleted(groupId) {
      await first.groupHistoryDeleted(groupId);
      for (const l of listeners) await l.groupHistoryDeleted?.(groupId);
    },
  };
}
