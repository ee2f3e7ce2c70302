import type { Clock } from "../../common/clock.js";
import { ErrorReason, notFound } from "../../errors/domain-error.js";
import type { GroupStore } from "../../groups/store.js";
import type { Logger } from "../../log/logger.js";
import { messageKeyOf } from "../c2c/conversation-id.js";
import { SeqTakenError } from "../c2c/store.js";
import { insertWithNewSeq } from "../send-steps.js";
import type { GroupMessageRecord, GroupMessageStore } from "./store.js";

export interface InsertGroupMessageDeps {
  groups: Pick<GroupStore, "allocateGroupSeqs">;
  messages: Pick<GroupMessageStore, "insertGroupMessage">;
  clock: Clock;
  logger: Logger;
}

/**
 * Gives the message the group's next seq (which also activates a Work group)
 * and stores it; a seq that another process was handed too is replaced.
 * GROUP_NOT_FOUND when the group was disbanded meanwhile.
 */
export async function insertGroupMessage(
  deps: InsertGroupMessageDeps,
  record: GroupMessageRecord,
): Promise<void> {
  const { message } = record;
  await insertWithNewSeq(
    async () => {
      const now = deps.clock();
      const seq = await deps.groups.allocateGroupSeqs(message.groupId, 1, now);
      if (seq === undefined) {
        throw notFound(ErrorReason.GROUP_NOT_FOUND, "the group no longer exists", {
          field: "group_id",
        });
      }
      message.timeMs = BigInt(now);
      return seq;
    },
    (seq) => {
      message.seq = BigInt(seq);
      message.messageKey = messageKeyOf(message.groupId, seq);
      return deps.messages.insertGroupMessage(record);
    },
    (err) => err instanceof SeqTakenError,
    deps.logger,
  );
}
