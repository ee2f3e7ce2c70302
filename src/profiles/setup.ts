import type { AccountStore } from "../accounts/store.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import { ProfileService } from "../gen/im/v1/profile_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import type { CustomFieldDef } from "./custom-fields.js";
import { createProfiles, type FriendRequestSettings } from "./profiles.js";
import { createProfileService } from "./service.js";
import type { ProfileStore } from "./store.js";

export interface ProfilesSetupDeps {
  store: ProfileStore;
  accounts: Pick<AccountStore, "selectAccount">;
  settings: { customFields: readonly CustomFieldDef[]; batchMax: number };
  clock: Clock;
  live: Pick<LiveHub, "publishToUsers">;
  /** Users who see `userId`'s profile changes (its friends' owners, from relations). */
  profileWatchers(userId: string): Promise<readonly string[]>;
}

export interface ProfilesComponent extends Component {
  /** For relations: a user's friend-request settings live in the profile. */
  friendRequestSettings(userId: string): Promise<FriendRequestSettings>;
  /** For push: the user's nickname as profiles show it; empty when none. */
  nicknameOf(userId: string): Promise<string>;
}

/** Profiles: ProfileService. */
export function setupProfiles(deps: ProfilesSetupDeps): ProfilesComponent {
  const profiles = createProfiles({
    store: deps.store,
    accounts: deps.accounts,
    customFields: deps.settings.customFields,
    batchMax: deps.settings.batchMax,
    clock: deps.clock,
    events: deps.live,
    profileWatchers: deps.profileWatchers,
  });
  return {
    friendRequestSettings: profiles.friendRequestSettings,
    nicknameOf: profiles.nicknameOf,
    services: [(router) => router.service(ProfileService, createProfileService(profiles))],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
