import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { DomainError, ErrorReason, permissionDenied } from "../errors/domain-error.js";

/** Who is calling, as established by the auth interceptor. */
export interface Caller {
  userId: string;
  isAdmin: boolean;
  /** When the caller's UserSig expires, ms since the epoch. */
  sigExpiresAtMs: number;
  /** When the caller's UserSig was issued, ms since the epoch (second resolution). */
  sigIssuedAtMs: number;
}

/**
 * The sig no longer authenticates at `nowMs`: the same rule as verifyUserSig
 * (valid through the whole second of its expiry), for checks after sign-in.
 */
export const sigExpired = (sigExpiresAtMs: number, nowMs: number): boolean =>
  Math.floor(nowMs / 1000) * 1000 > sigExpiresAtMs;

/**
 * A sig issued at `sigIssuedAtMs` is revoked by an invalidation at
 * `invalidBeforeMs`. TLS.time has second resolution: a sig issued in the same
 * second as the invalidation counts as issued before it.
 */
export const sigRevoked = (sigIssuedAtMs: number, invalidBeforeMs: number): boolean =>
  sigIssuedAtMs <= invalidBeforeMs;

export const callerKey = createContextKey<Caller | undefined>(undefined, {
  description: "authenticated caller",
});

/** The authenticated caller; every RPC but health passes the auth interceptor first. */
export function requireCaller(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) {
    throw new DomainError("unauthenticated", ErrorReason.SIG_MISSING, "not authenticated");
  }
  return caller;
}

export function requireAdmin(ctx: HandlerContext): Caller {
  const caller = requireCaller(ctx);
  if (!caller.isAdmin) {
    throw permissionDenied(ErrorReason.ADMIN_REQUIRED, "this RPC is for app administrators");
  }
  return caller;
}
