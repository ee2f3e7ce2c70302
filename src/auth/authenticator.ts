import type { AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import { type Caller, sigRevoked } from "./caller.js";
import type { UserSigFailure } from "./usersig.js";
import { createVerifiedSigs } from "./verified-sigs.js";

export interface AuthenticatorDeps {
  appId: number;
  secretKey: string;
  adminUserIds: ReadonlySet<string>;
  maxSkewSec: number;
  /** Sigs whose signature verified, kept until they expire (0: none). */
  verifiedSigsMax: number;
  accounts: Pick<AccountStore, "selectAccount">;
  clock: Clock;
}

export type Authenticate = (userSig: string | undefined) => Promise<Caller>;

const FAILURE_REASON: Record<UserSigFailure, ErrorReason> = {
  SIG_MALFORMED: ErrorReason.SIG_MALFORMED,
  SIG_EXPIRED: ErrorReason.SIG_EXPIRED,
  SIG_WRONG_APP: ErrorReason.SIG_WRONG_APP,
  SIG_BAD_SIGNATURE: ErrorReason.SIG_BAD_SIGNATURE,
  SIG_NOT_YET_VALID: ErrorReason.SIG_NOT_YET_VALID,
};

/**
 * Verifies a UserSig and that its user may still sign in: app administrators
 * (from config) need no account; everyone else needs an existing account whose
 * sigs were not invalidated after this one was issued.
 */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticate {
  const sigs = createVerifiedSigs({
    appId: deps.appId,
    secretKey: deps.secretKey,
    maxSkewSec: deps.maxSkewSec,
    maxEntries: deps.verifiedSigsMax,
  });
  return async (userSig) => {
    if (userSig === undefined || userSig === "") {
      throw unauthenticated(
        ErrorReason.SIG_MISSING,
        "missing UserSig (Authorization: Bearer <sig>)",
      );
    }
    const nowMs = deps.clock();
    const result = sigs.verify(userSig, Math.floor(nowMs / 1000));
    if (!result.ok) throw unauthenticated(FAILURE_REASON[result.failure], result.detail);
    const { userId, issuedAtSec, expireSec } = result.claims;
    const sigExpiresAtMs = (issuedAtSec + expireSec) * 1000;
    const sigIssuedAtMs = issuedAtSec * 1000;
    if (deps.adminUserIds.has(userId)) {
      return { userId, isAdmin: true, sigExpiresAtMs, sigIssuedAtMs };
    }

    const account = await deps.accounts.selectAccount(userId);
    if (account === undefined) {
      throw unauthenticated(ErrorReason.ACCOUNT_NOT_FOUND, "account does not exist");
    }
    if (
      account.sigsInvalidBeforeMs !== undefined &&
      sigRevoked(sigIssuedAtMs, account.sigsInvalidBeforeMs)
    ) {
      throw unauthenticated(ErrorReason.SIG_REVOKED, "UserSig was invalidated");
    }
    return { userId, isAdmin: false, sigExpiresAtMs, sigIssuedAtMs };
  };
}

const unauthenticated = (reason: ErrorReason, message: string) =>
  new DomainError("unauthenticated", reason, message);
