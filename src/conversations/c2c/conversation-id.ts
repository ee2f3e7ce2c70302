/**
 * One id per pair of users, the same from both sides: "c2c:<a>:<b>" with the
 * ids in byte order. User ids cannot contain ":", so it splits back unambiguously.
 */
export const c2cConversationId = (a: string, b: string): string =>
  a < b ? `c2c:${a}:${b}` : `c2c:${b}:${a}`;
