/**
 * The bus could not do what was asked (unreachable, timed out, closed, no stream for
 * the subject). Callers retry later; the transactional outbox exists for this.
 */
export class BusUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BusUnavailableError";
  }
}

/**
 * Thrown by an event handler for an event that can never succeed (e.g. it does not
 * decode): the event is terminated at once instead of retried to maxDeliver.
 */
export class PoisonEventError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PoisonEventError";
  }
}

/**
 * A stream's replica count does not fit the NATS servers there are (more replicas than
 * servers, or replicas on a server that is not clustered). A configuration error: start-up
 * stops with it instead of running with fewer copies than asked for.
 */
export class BusReplicasError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BusReplicasError";
  }
}
