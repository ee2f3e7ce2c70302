import type { ConnectError } from "@connectrpc/connect";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import type { Logger } from "../log/logger.js";
import { toConnectError } from "./error-mapper.js";

/** The transport's own refusals, as wire errors with their stable reason. */
export const requestTooLarge = (limitBytes: number, logger: Logger): ConnectError =>
  toConnectError(
    new DomainError(
      "resource-exhausted",
      ErrorReason.REQUEST_TOO_LARGE,
      `request is larger than this RPC accepts (${limitBytes} bytes)`,
    ),
    logger,
  );

export const requestBodyTimeout = (timeoutMs: number, logger: Logger): ConnectError =>
  toConnectError(
    new DomainError(
      "deadline-exceeded",
      ErrorReason.REQUEST_TIMEOUT,
      `request body did not arrive within ${timeoutMs} ms`,
    ),
    logger,
  );
