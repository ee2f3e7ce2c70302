import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { DomainError, ErrorReason, permissionDenied } from "../errors/domain-error.js";

/** Who is calling, as established by the auth interceptor. */
export interface Caller {
  userId: string;
  isAdmin: boolean;
  /** When the caller's UserSig expires, ms since the epoch. */
  sigExpiresAtMs: number;
}

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
