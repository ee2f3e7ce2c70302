import type { ConnectError } from "@connectrpc/connect";
import type { Authenticate } from "../auth/authenticator.js";
import type { Caller } from "../auth/caller.js";
import type { Logger } from "../log/logger.js";
import type { TransportMeter } from "../metrics/meters.js";
import { reasonOf, toConnectError } from "./error-mapper.js";
import { bearerSig } from "./interceptors.js";
import { ENVELOPE_HEADER_BYTES, type WireProtocol } from "./protocol/detect.js";
import { requestTooLarge } from "./request-errors.js";

export interface CallGateDeps {
  authenticate: Authenticate;
  logger: Logger;
  meter: Pick<TransportMeter, "requestRejected">;
}

/**
 * The checks every call passes on its headers alone, before a body byte is
 * read: a declared length over the RPC's limit, then the UserSig. Shared by
 * the node handler (Connect) and the live-stream writer; each refusal is
 * counted by its reason and answered by the caller with writeError.
 */
export interface CallGate {
  /** Counts a refusal by its reason and returns it. */
  rejected(error: ConnectError): ConnectError;
  /** The refusal of a body whose content-length is over `limit` (enveloped: plus one envelope header). */
  declaredTooLarge(
    contentLength: string | undefined,
    protocol: WireProtocol,
    limit: number,
  ): ConnectError | undefined;
  /** The caller of the authorization header, or the refusal to answer. */
  caller(authorization: string | undefined): Promise<Caller | ConnectError>;
}

export function createCallGate(deps: CallGateDeps): CallGate {
  const rejected = (error: ConnectError): ConnectError => {
    deps.meter.requestRejected(reasonOf(error));
    return error;
  };
  return {
    rejected,
    declaredTooLarge(contentLength, protocol, limit) {
      const rawLimit = limit + (protocol.enveloped ? ENVELOPE_HEADER_BYTES : 0);
      if (!(Number(contentLength) > rawLimit)) return undefined;
      return rejected(requestTooLarge(limit, deps.logger));
    },
    async caller(authorization) {
      try {
        return await deps.authenticate(bearerSig(authorization));
      } catch (err) {
        return rejected(toConnectError(err, deps.logger));
      }
    },
  };
}
