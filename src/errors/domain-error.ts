import { ErrorReason } from "../gen/im/v1/errors_pb.js";

export { ErrorReason };

/** What went wrong, in transport-neutral terms; the server maps it to a status code. */
export type ErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "permission-denied"
  | "unauthenticated"
  | "failed-precondition"
  | "resource-exhausted"
  | "unavailable"
  | "deadline-exceeded"
  | "aborted"
  | "internal";

export interface DomainErrorOptions {
  /** Dotted path of the request field at fault. */
  field?: string;
  /** Code passed through from the app's webhook (BLOCKED_BY_WEBHOOK). */
  appCode?: number;
  /** Text passed through from the app's webhook (BLOCKED_BY_WEBHOOK). */
  appText?: string;
  /** RATE_LIMITED: milliseconds until the call may succeed again. */
  retryAfterMs?: number;
  /** Internal cause; logged, never sent to clients. */
  cause?: unknown;
}

/**
 * The one error type domain code throws. Its message is safe to show to the
 * client; anything internal goes in `cause`.
 */
export class DomainError extends Error {
  readonly field: string | undefined;
  readonly appCode: number | undefined;
  readonly appText: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly kind: ErrorKind,
    readonly reason: ErrorReason,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DomainError";
    this.field = options.field;
    this.appCode = options.appCode;
    this.appText = options.appText;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export const invalidArgument = (
  reason: ErrorReason,
  message: string,
  options?: DomainErrorOptions,
): DomainError => new DomainError("invalid-argument", reason, message, options);

export const invalidField = (field: string, message: string): DomainError =>
  new DomainError("invalid-argument", ErrorReason.INVALID_FIELD, `${field}: ${message}`, { field });

export const permissionDenied = (
  reason: ErrorReason,
  message: string,
  options?: DomainErrorOptions,
): DomainError => new DomainError("permission-denied", reason, message, options);

export const notFound = (
  reason: ErrorReason,
  message: string,
  options?: DomainErrorOptions,
): DomainError => new DomainError("not-found", reason, message, options);

/** The document store could not be reached; nothing was stored. */
export const storageUnavailable = (cause: unknown): DomainError =>
  new DomainError("unavailable", ErrorReason.STORAGE_UNAVAILABLE, "storage unavailable", {
    cause,
  });
