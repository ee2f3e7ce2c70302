/**
 * What components record, as narrow interfaces passed in as deps (never a
 * global registry). `noMeters` records nothing, for tests and when metrics are off.
 */

/** One finished RPC. `code` is the Connect code name ("ok" on success). */
export interface RpcMeter {
  rpcFinished(service: string, method: string, code: string, seconds: number): void;
}

/** How a send ended: stored, live only (no seq), dropped (webhook, admission), duplicate, failed. */
export type SendOutcome = "stored" | "live_only" | "dropped" | "duplicate" | "failed";

export interface MessageMeter {
  messageSent(kind: string, outcome: SendOutcome): void;
  /** A stored message handled by fan-out; `lagSeconds` from its time to the handling. */
  messageFannedOut(kind: string, lagSeconds: number): void;
}

export interface WebhookMeter {
  /** `outcome` is the verdict kind (allowed, denied, timed-out, acknowledged, ...). */
  webhookFinished(event: string, outcome: string, seconds: number): void;
}

export interface StoreMeter {
  storeCommandFinished(command: string, ok: boolean, seconds: number): void;
}

/** What the transport refuses or writes outside connect-es's handlers. */
export interface TransportMeter {
  /** A request refused before a handler ran (too large, body timeout, unauthenticated, unknown route). */
  requestRejected(reason: string): void;
  /** Live events written to streams: one per event per stream. */
  liveEventsWritten(count: number): void;
}

export type Meters = RpcMeter & MessageMeter & WebhookMeter & StoreMeter & TransportMeter;

export const noMeters: Meters = {
  rpcFinished: () => {},
  messageSent: () => {},
  messageFannedOut: () => {},
  webhookFinished: () => {},
  storeCommandFinished: () => {},
  requestRejected: () => {},
  liveEventsWritten: () => {},
};
