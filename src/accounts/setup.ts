import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import { AccountService } from "../gen/im/v1/account_pb.js";
import type { StreamAuthority } from "../live/live-hub.js";
import { createAccounts } from "./accounts.js";
import { createAccountService } from "./service.js";
import type { AccountStore } from "./store.js";

export interface AccountsSetupDeps {
  store: AccountStore;
  clock: Clock;
  /** Accounts per import/delete/check call. */
  batchMax: number;
  /** Live streams on every node, told when a user's sigs stop authenticating. */
  streams: StreamAuthority;
}

/** Accounts: AccountService. */
export function setupAccounts(deps: AccountsSetupDeps): Component {
  const accounts = createAccounts(deps);
  return {
    services: [(router) => router.service(AccountService, createAccountService(accounts))],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
