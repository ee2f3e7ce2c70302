import type { ServiceImpl } from "@connectrpc/connect";
import { requireAdmin, requireCaller } from "../auth/caller.js";
import { invalidField } from "../errors/domain-error.js";
import type { ProfileService } from "../gen/im/v1/profile_pb.js";
import { profileToProto, updatesFromProto } from "./profile-proto.js";
import type { Profiles } from "./profiles.js";

/** ProfileService over Connect: proto in, domain call, proto out. */
export function createProfileService(profiles: Profiles): ServiceImpl<typeof ProfileService> {
  return {
    async getProfiles(req, ctx) {
      const caller = requireCaller(ctx);
      const { profiles: views, notFound } = await profiles.getProfiles(
        caller,
        req.userIds,
        req.fields,
      );
      return {
        profiles: views.map((v) => profileToProto(v.userId, v.values)),
        notFoundUserIds: notFound,
      };
    },
    async setProfile(req, ctx) {
      const caller = requireCaller(ctx);
      if (req.profile === undefined) throw invalidField("profile", "required");
      const at = await profiles.setProfile(
        caller,
        req.userId,
        updatesFromProto(req.profile, "profile"),
      );
      return { updatedAtMs: BigInt(at) };
    },
    async importProfiles(req, ctx) {
      requireAdmin(ctx);
      const entries = req.profiles.map((p, i) => ({
        userId: p.userId,
        updates: updatesFromProto(p, `profiles[${i}]`),
      }));
      return { userIds: await profiles.importProfiles(entries) };
    },
  };
}
