/**
 * Who may send a one-to-one message to whom, beyond account existence. The
 * relationship chain (friends-only mode, blocklists) implements it; admin sends
 * never reach it.
 *
 * Resolves "deliver" to let the message through, or "drop-silently" to tell the
 * sender success while storing and delivering nothing. Throws a DomainError
 * (PermissionDenied with a reason such as SENDER_BLOCKED or NOT_FRIENDS) to
 * reject the send.
 */
export type C2CSendPolicy = (
  fromUserId: string,
  toUserId: string,
) => Promise<"deliver" | "drop-silently">;

/** The default when no relationship chain is configured: strangers may message each other. */
export const allowAllSendPolicy: C2CSendPolicy = async () => "deliver";
