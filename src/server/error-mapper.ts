import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorKind, ErrorReason } from "../errors/domain-error.js";
import { ErrorDetailSchema } from "../gen/im/v1/errors_pb.js";
import type { Logger } from "../log/logger.js";

const CODE: Record<ErrorKind, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "already-exists": Code.AlreadyExists,
  "permission-denied": Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  "failed-precondition": Code.FailedPrecondition,
  "resource-exhausted": Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  "deadline-exceeded": Code.DeadlineExceeded,
  aborted: Code.Aborted,
  internal: Code.Internal,
};

/**
 * Messages and field paths may quote client input (a field name, a list name):
 * only a short prefix goes back, so an error never grows with the request
 * (gRPC clients refuse trailers over 8-16 KB).
 */
const ECHO_MAX_CHARS = 200;
/** Field paths are shorter still: a real one fits easily. */
export const FIELD_MAX_CHARS = 100;
export const clip = (text: string, max = ECHO_MAX_CHARS): string =>
  text.length <= max ? text : `${text.slice(0, max)}…`;

/**
 * The one place domain errors become wire errors: a code plus an ErrorDetail
 * with the stable reason. Unknown errors become Internal; their text stays in
 * the log, never in the response.
 */
export function toConnectError(err: unknown, logger: Logger): ConnectError {
  if (err instanceof DomainError) {
    if (err.cause !== undefined)
      logger.warn("request failed", { reason: ErrorReason[err.reason], err });
    return new ConnectError(clip(err.message), CODE[err.kind], undefined, [
      {
        desc: ErrorDetailSchema,
        value: create(ErrorDetailSchema, {
          reason: err.reason,
          field: clip(err.field ?? "", FIELD_MAX_CHARS),
          appCode: err.appCode ?? 0,
          appText: err.appText ?? "",
          retryAfterMs: err.retryAfterMs ?? 0,
        }),
      },
    ]);
  }
  if (err instanceof ConnectError) return err;
  logger.error("unexpected error", { err });
  return new ConnectError("internal error", Code.Internal, undefined, [
    { desc: ErrorDetailSchema, value: create(ErrorDetailSchema, { reason: ErrorReason.INTERNAL }) },
  ]);
}

/** The stable reason an error carries (its ErrorDetail), for metrics; the code's name without one. */
export function reasonOf(error: ConnectError): string {
  const reason = error.findDetails(ErrorDetailSchema)[0]?.reason;
  return reason === undefined ? Code[error.code] : (ErrorReason[reason] ?? String(reason));
}
