import { ConfigError, type Env, intSetting } from "./settings.js";

/** Request, connection and stream limits of the transport (README "Limits"). */
export interface TransportLimits {
  /** Largest request of an ordinary RPC, compressed and decompressed alike. */
  requestMaxBytes: number;
  /** Largest request of a batch RPC (imports, lists of up to *_BATCH_MAX users). */
  batchRequestMaxBytes: number;
  /** A connection must send its first byte, and a request its headers, within this. */
  headersTimeoutMs: number;
  /** A request's body must have fully arrived this long after its headers. */
  requestBodyTimeoutMs: number;
  /** How long the rest of a refused HTTP/1.1 request body is read and dropped before the connection is cut. */
  rejectedBodyLingerMs: number;
  /** A connection with no call open is closed after this long. */
  idleTimeoutMs: number;
  /** HTTP/2 PING interval; a peer that does not answer within one interval is cut. */
  h2PingIntervalMs: number;
  /** Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  h2MaxConcurrentStreams: number;
  /** Open connections; past it, a connection that has not sent a byte yet makes room, else the new one is closed. */
  maxConnections: number;
}

const MIB = 1024 * 1024;

/**
 * The request limit derives from the contract: a send carries one message of up
 * to MESSAGE_MAX_BYTES plus its envelope fields, so a few times that; batch
 * RPCs carry up to 1,000 users with their fields.
 */
export function readTransportLimits(env: Env, maxMessageBytes: number): TransportLimits {
  const requestMaxBytes = intSetting(
    env,
    "REQUEST_MAX_BYTES",
    Math.max(64 * 1024, 4 * maxMessageBytes),
    { min: 1024, max: 64 * MIB },
  );
  if (requestMaxBytes < maxMessageBytes) {
    throw new ConfigError(
      "REQUEST_MAX_BYTES",
      `must be at least MESSAGE_MAX_BYTES (${maxMessageBytes})`,
    );
  }
  const batchRequestMaxBytes = intSetting(
    env,
    "BATCH_REQUEST_MAX_BYTES",
    Math.max(MIB, requestMaxBytes),
    { min: 1024, max: 256 * MIB },
  );
  if (batchRequestMaxBytes < requestMaxBytes) {
    throw new ConfigError(
      "BATCH_REQUEST_MAX_BYTES",
      `must be at least REQUEST_MAX_BYTES (${requestMaxBytes})`,
    );
  }
  return {
    requestMaxBytes,
    batchRequestMaxBytes,
    headersTimeoutMs: intSetting(env, "HEADERS_TIMEOUT_MS", 10_000, { min: 100, max: 600_000 }),
    requestBodyTimeoutMs: intSetting(env, "REQUEST_BODY_TIMEOUT_MS", 30_000, {
      min: 100,
      max: 3_600_000,
    }),
    rejectedBodyLingerMs: intSetting(env, "REJECTED_BODY_LINGER_MS", 2000, {
      min: 0,
      max: 60_000,
    }),
    idleTimeoutMs: intSetting(env, "IDLE_TIMEOUT_MS", 120_000, { min: 100, max: 86_400_000 }),
    h2PingIntervalMs: intSetting(env, "H2_PING_INTERVAL_MS", 30_000, {
      min: 100,
      max: 3_600_000,
    }),
    h2MaxConcurrentStreams: intSetting(env, "H2_MAX_CONCURRENT_STREAMS", 100, {
      min: 1,
      max: 10_000,
    }),
    maxConnections: intSetting(env, "MAX_CONNECTIONS", 10_000, { min: 1, max: 1_000_000 }),
  };
}
