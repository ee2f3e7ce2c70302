import type { Transport } from "@connectrpc/connect";
import { openGoReceivers } from "./go-receivers.js";
import type { GroupOptions } from "./group-options.js";
import type { GroupTracker } from "./group-tracker.js";
import { openReceivers, type Receivers } from "./receivers.js";

/**
 * The all-online members' live streams, held as --receiver says: connect-node
 * clients in this process, or bench/receiver-go (its pid returned so its CPU is
 * reported apart from the bench's). Used by the server's phases and the
 * raw-frame baseline alike, so their ratio compares like with like.
 */
export async function openGroupReceivers(
  options: Pick<GroupOptions, "receiver" | "connections">,
  target: {
    baseUrl: string;
    userIds: string[];
    headersOf: (userId: string) => Record<string, string>;
    /** `at`: when the receiver read the delivery (given by the Go receiver). */
    tracker: Pick<GroupTracker, "delivered">;
    /** The node receivers' connections (made only if used). */
    transports: () => Transport[];
  },
): Promise<Receivers & { pid?: number }> {
  const readyTimeoutMs = 300_000;
  if (options.receiver === "go") {
    return openGoReceivers({
      baseUrl: target.baseUrl,
      userIds: target.userIds,
      headersOf: target.headersOf,
      tracker: target.tracker,
      connections: options.connections,
      readyTimeoutMs,
    });
  }
  return openReceivers({
    userIds: target.userIds,
    headersOf: target.headersOf,
    transports: target.transports(),
    tracker: { delivered: (id) => target.tracker.delivered(id) },
    readyTimeoutMs,
  });
}
