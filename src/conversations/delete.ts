import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import { assertBatch } from "../common/batch.js";
import type { Clock } from "../common/clock.js";
import {
  DomainError,
  ErrorReason,
  invalidField,
  permissionDenied,
} from "../errors/domain-error.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import { type DeletedForMe, DeletedForMeSchema } from "../gen/im/v1/lifecycle_pb.js";
import { MessageRecallSchema } from "../gen/im/v1/recall_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { DeletedForMeRecord, DeletedForMeStore } from "./deleted-for-me-store.js";
import type { ConversationKind } from "./kind.js";
import type { Outbox } from "./outbox.js";
import { messageNotFound, storeTombstone } from "./recall.js";
import type { SequencedMessage, StoredMessage } from "./store.js";

export interface DeleteDeps<R> {
  /** The kind's outbox: a delete for everyone is published through it like a recall. */
  outbox: Pick<Outbox<R>, "publish">;
  deletedForMe: DeletedForMeStore;
  /** The caller's devices learn of their own deletes (every node). */
  live: Pick<LiveHub, "publishToUser">;
  clock: Clock;
  /** Most seqs per call. */
  deleteBatchMax: number;
  /** Most seqs one user keeps deleted for themselves per conversation. */
  deletedForMeMax: number;
}

export interface DeleteResult {
  /** Seqs this call turned into tombstones, ascending. */
  deleted: number[];
  /** Seqs already tombstones (deleted or recalled), ascending. */
  alreadyDeleted: number[];
}

export interface Deleter {
  /**
   * An app admin deletes messages for everyone: all seqs checked first (each
   * must hold a message the kind lets be tombstoned), then each becomes a
   * tombstone with `deletedForEveryone` through recall's path (store, outbox,
   * fan-out: `deleted` events, the lists, unread). Idempotent.
   */
  deleteForEveryone(
    caller: Caller,
    conversationId: string,
    seqs: readonly number[],
  ): Promise<DeleteResult>;
  /** The caller hides messages of a conversation they take part in, for themselves only. */
  deleteForMe(
    caller: Caller,
    conversationId: string,
    seqs: readonly number[],
  ): Promise<DeletedForMeRecord>;
  /** The caller hides every message up to `upToSeq` (0: the latest) for themselves only. */
  clearForMe(caller: Caller, conversationId: string, upToSeq: number): Promise<DeletedForMeRecord>;
}

/** The contract's form of a user's marks. */
export const deletedForMeToProto = (r: DeletedForMeRecord): DeletedForMe =>
  create(DeletedForMeSchema, {
    clearedUpToSeq: BigInt(r.clearedUpToSeq),
    seqs: r.deletedSeqs.map(BigInt),
  });

const ascending = (seqs: Iterable<number>) => [...seqs].sort((a, b) => a - b);

/** Deletes, written once for every conversation kind. */
export function createDeleter<Req, M extends SequencedMessage, R extends StoredMessage<M>, Res>(
  kind: ConversationKind<Req, M, R, Res>,
  deps: DeleteDeps<R>,
): Deleter {
  const { clock } = deps;
  /** 1..deleteBatchMax distinct seqs. */
  const batchOf = (seqs: readonly number[]): number[] => {
    const distinct = ascending(new Set(seqs));
    assertBatch(distinct, "seqs", deps.deleteBatchMax);
    return distinct;
  };
  /** Tells the caller's devices (this one included) what they now hide. */
  const tellOwnDevices = (caller: Caller, conversationId: string, record: DeletedForMeRecord) => {
    deps.live.publishToUser(
      caller.userId,
      create(SubscribeResponseSchema, {
        event: {
          case: "deletedForMe",
          value: {
            conversationType: kind.conversationType,
            conversationId,
            deletedForMe: deletedForMeToProto(record),
          },
        },
      }),
    );
  };

  return {
    async deleteForEveryone(caller, conversationId, seqs) {
      if (!caller.isAdmin) {
        throw permissionDenied(
          ErrorReason.DELETE_NOT_ALLOWED,
          "only an app admin may delete messages for everyone",
        );
      }
      const batch = batchOf(seqs);
      const access = await kind.recallAccess(caller, conversationId);
      const records = await Promise.all(
        batch.map((seq) => kind.store.selectMessage(conversationId, seq)),
      );
      const present: R[] = [];
      for (const [i, record] of records.entries()) {
        if (record === undefined) {
          throw new DomainError(
            "not-found",
            ErrorReason.MESSAGE_NOT_FOUND,
            `no message at seq ${batch[i]}`,
            { field: "seqs" },
          );
        }
        // The kind's rules for tombstones (a group tip cannot be one).
        access.authorityOver(record.message);
        present.push(record);
      }
      const deletion = create(MessageRecallSchema, {
        recalledByUserId: caller.userId,
        recalledAtMs: BigInt(clock()),
        deletedForEveryone: true,
      });
      const deleted: number[] = [];
      const alreadyDeleted: number[] = [];
      await Promise.all(
        present.map(async (record) => {
          const seq = Number(record.message.seq);
          if (record.message.recall !== undefined) {
            alreadyDeleted.push(seq);
            return;
          }
          const outcome = await storeTombstone(kind, deps.outbox, record, deletion);
          if (outcome === "not-found") throw messageNotFound();
          (outcome === "recalled" ? deleted : alreadyDeleted).push(seq);
        }),
      );
      return { deleted: ascending(deleted), alreadyDeleted: ascending(alreadyDeleted) };
    },

    async deleteForMe(caller, conversationId, seqs) {
      const batch = batchOf(seqs);
      const { lastSeq } = await kind.participantView(caller, conversationId);
      const beyond = batch.find((s) => s > lastSeq);
      if (beyond !== undefined) {
        throw invalidField("seqs", `seq ${beyond} is above the conversation's latest (${lastSeq})`);
      }
      const record = await deps.deletedForMe.addDeletedSeqs(
        caller.userId,
        conversationId,
        batch,
        deps.deletedForMeMax,
      );
      if (record === "full") {
        throw new DomainError(
          "resource-exhausted",
          ErrorReason.DELETED_FOR_ME_FULL,
          `at most ${deps.deletedForMeMax} messages deleted for yourself per conversation; clear the conversation instead`,
          { field: "seqs" },
        );
      }
      tellOwnDevices(caller, conversationId, record);
      return record;
    },

    async clearForMe(caller, conversationId, upToSeq) {
      const { lastSeq } = await kind.participantView(caller, conversationId);
      const target = upToSeq === 0 ? lastSeq : Math.min(upToSeq, lastSeq);
      const record = await deps.deletedForMe.clearDeletedForMe(
        caller.userId,
        conversationId,
        target,
      );
      tellOwnDevices(caller, conversationId, record);
      return record;
    },
  };
}
