import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { type MessageElement, MessageElementSchema } from "../../gen/im/v1/elements_pb.js";

/**
 * The idempotency key of a group send. A client message id makes retries the
 * same message; without one, the reference's rule applies: the same sender,
 * random and content (within the window) is a duplicate. A random of 0 means
 * "not given": two identical "ok"s without a random are two messages.
 */
export function groupDedupKey(
  groupId: string,
  fromUserId: string,
  m: {
    clientMessageId: string;
    random: number;
    body: readonly MessageElement[];
    cloudCustomData: string;
  },
): string | undefined {
  // "g|" keeps group keys apart from one-to-one keys in the shared claim store.
  const base = `g|${fromUserId}|${groupId}`;
  if (m.clientMessageId !== "") return `${base}#c:${m.clientMessageId}`;
  if (m.random === 0) return undefined;
  const hash = createHash("sha256");
  for (const element of m.body) hash.update(toBinary(MessageElementSchema, element));
  hash.update("\0");
  hash.update(m.cloudCustomData);
  return `${base}#r:${m.random}:${hash.digest("base64url").slice(0, 22)}`;
}
