import type { PushChannel } from "./store.js";

/** Per-provider counters since start (this process). */
export interface ProviderCounts {
  sent: number;
  /** Given up, by the provider's reason. */
  failed: Record<string, number>;
  tokensRemoved: number;
  /** Registrations skipped because the provider is not configured. */
  notConfigured: number;
}

export interface PushStats {
  record(
    channel: PushChannel,
    outcome: "sent" | "removed" | "not-configured" | { failed: string },
  ): void;
  snapshot(): Record<PushChannel, ProviderCounts>;
}

export function createPushStats(): PushStats {
  const fresh = (): ProviderCounts => ({ sent: 0, failed: {}, tokensRemoved: 0, notConfigured: 0 });
  const counts: Record<PushChannel, ProviderCounts> = { apns: fresh(), fcm: fresh() };
  return {
    record(channel, outcome) {
      const c = counts[channel];
      if (outcome === "sent") c.sent++;
      else if (outcome === "removed") c.tokensRemoved++;
      else if (outcome === "not-configured") c.notConfigured++;
      else c.failed[outcome.failed] = (c.failed[outcome.failed] ?? 0) + 1;
    },
    snapshot: () => structuredClone(counts),
  };
}
