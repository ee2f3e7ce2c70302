/**
 * One id per pair of users, the same from both sides: "c2c:<a>:<b>" with the
 * ids in byte order. User ids cannot contain ":", so it splits back unambiguously.
 */
export const c2cConversationId = (a: string, b: string): string =>
  a < b ? `c2c:${a}:${b}` : `c2c:${b}:${a}`;

/** The two users of a one-to-one conversation id, or undefined if it is not one. */
export function c2cUsersOf(conversationId: string): [string, string] | undefined {
  const parts = conversationId.split(":");
  if (parts.length !== 3 || parts[0] !== "c2c") return undefined;
  const [, a, b] = parts as [string, string, string];
  if (a === "" || b === "" || c2cConversationId(a, b) !== conversationId) return undefined;
  return [a, b];
}
