import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { AdminForbidType, AllowType, Gender } from "../../src/gen/im/v1/profile_pb.js";
import { BACKENDS, type Harness, openLive, settle, startHarness } from "../relations/harness.js";
import { failureOf } from "../support/clients.js";

const CUSTOM_ENV = {
  // Hobby: anyone reads and writes; Vip: app users read, only admins write;
  // Secret: admins only; Avatar: bytes.
  PROFILE_CUSTOM_FIELDS: "Hobby,Vip:string:app+admin:admin,Secret:string:admin:admin,Avatar:bytes",
};

const str = (value: string) => ({ value: { case: "stringValue" as const, value } });
const bin = (value: Uint8Array) => ({ value: { case: "bytesValue" as const, value } });

describe.each(BACKENDS)("ProfileService on %s", (_backend, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ ...env(), ...CUSTOM_ENV });
  });
  afterAll(() => h.app.close());

  it("sets and gets the caller's own profile, standard and custom fields", async () => {
    const [me] = await h.users(1);
    const api = h.profiles(me!);
    await api.setProfile({
      profile: {
        nickname: "Ann",
        gender: Gender.FEMALE,
        birthday: 20190419,
        location: "1234567890123456",
        selfSignature: "hi",
        allowType: AllowType.ALLOW_ANY,
        language: 7,
        imageUrl: "https://img/a.png",
        level: 3,
        role: 4294967295,
        customFields: {
          Tag_Profile_Custom_Hobby: str("chess"),
          Tag_Profile_Custom_Avatar: bin(new Uint8Array([1, 2])),
        },
      },
    });
    const { profiles } = await api.getProfiles({ userIds: [me!] });
    expect(profiles[0]).toMatchObject({
      userId: me,
      nickname: "Ann",
      gender: Gender.FEMALE,
      birthday: 20190419,
      location: "1234567890123456",
      selfSignature: "hi",
      allowType: AllowType.ALLOW_ANY,
      language: 7,
      imageUrl: "https://img/a.png",
      adminForbidType: AdminForbidType.NONE,
      level: 3,
      role: 4294967295,
    });
    expect(profiles[0]?.customFields.Tag_Profile_Custom_Hobby?.value.value).toBe("chess");
    expect(profiles[0]?.customFields.Tag_Profile_Custom_Avatar?.value.value).toEqual(
      new Uint8Array([1, 2]),
    );
    // An app user never sees admin-only fields, not even their own.
    expect(profiles[0]?.customFields.Tag_Profile_Custom_Secret).toBeUndefined();
  });

  it("returns only the requested fields, defaults for unset ones, the account's nickname until set", async () => {
    const [a, b] = await h.users(2);
    const { profiles, notFoundUserIds } = await h.profiles(a!).getProfiles({
      userIds: [b!, "ghost", a!, b!],
      fields: ["Tag_Profile_IM_Nick", "Tag_Profile_IM_AllowType", "Tag_Profile_Custom_Hobby"],
    });
    expect(notFoundUserIds).toEqual(["ghost"]);
    expect(profiles.map((p) => p.userId)).toEqual([b, a]);
    const p = profiles[0]!;
    expect(p.nickname).toBe(`nick ${b}`);
    expect(p.allowType).toBe(AllowType.NEED_CONFIRM);
    expect(p.customFields.Tag_Profile_Custom_Hobby?.value.value).toBe("");
    expect(p.gender).toBeUndefined();
    expect(p.birthday).toBeUndefined();
    expect(p.imageUrl).toBeUndefined();
  });

  it.each([
    [
      "a nickname over 500 bytes",
      { nickname: "x".repeat(501) },
      ErrorReason.INVALID_FIELD,
      "profile.nickname",
    ],
    [
      "a location over 16 bytes",
      { location: "é".repeat(9) },
      ErrorReason.INVALID_FIELD,
      "profile.location",
    ],
    [
      "an unknown gender value",
      { gender: 9 as Gender },
      ErrorReason.INVALID_FIELD,
      "profile.gender",
    ],
    [
      "an unknown allow type",
      { allowType: 17 as AllowType },
      ErrorReason.INVALID_FIELD,
      "profile.allow_type",
    ],
    [
      "an unregistered custom field",
      { customFields: { Tag_Profile_Custom_Nope: str("x") } },
      ErrorReason.INVALID_FIELD,
      "profile.custom_fields.Tag_Profile_Custom_Nope",
    ],
    [
      "a custom field without the prefix",
      { customFields: { Hobby: str("x") } },
      ErrorReason.INVALID_FIELD,
      "profile.custom_fields.Hobby",
    ],
    [
      "bytes for a string field",
      { customFields: { Tag_Profile_Custom_Hobby: bin(new Uint8Array([1])) } },
      ErrorReason.INVALID_FIELD,
      "profile.custom_fields.Tag_Profile_Custom_Hobby",
    ],
    [
      "a custom value over 500 bytes",
      { customFields: { Tag_Profile_Custom_Hobby: str("y".repeat(501)) } },
      ErrorReason.INVALID_FIELD,
      "profile.custom_fields.Tag_Profile_Custom_Hobby",
    ],
    [
      "the admin-forbid type",
      { adminForbidType: AdminForbidType.NONE },
      ErrorReason.FIELD_NOT_WRITABLE,
      "profile.admin_forbid_type",
    ],
    [
      "an admin-write custom field",
      { customFields: { Tag_Profile_Custom_Vip: str("gold") } },
      ErrorReason.FIELD_NOT_WRITABLE,
      "profile.custom_fields.Tag_Profile_Custom_Vip",
    ],
  ])("rejects %s naming the field, applying nothing", async (_name, bad, reason, field) => {
    const [me] = await h.users(1);
    const api = h.profiles(me!);
    const f = await failureOf(api.setProfile({ profile: { selfSignature: "changed", ...bad } }));
    expect([f.reason, f.field]).toEqual([reason, field]);
    expect(f.code).toBe(
      reason === ErrorReason.INVALID_FIELD ? Code.InvalidArgument : Code.PermissionDenied,
    );
    const { profiles } = await api.getProfiles({
      userIds: [me!],
      fields: ["Tag_Profile_IM_SelfSignature"],
    });
    expect(profiles[0]?.selfSignature).toBe("");
  });

  it("accepts boundary values: 500-byte nickname and custom value, clears custom fields with empty values", async () => {
    const [me] = await h.users(1);
    const api = h.profiles(me!);
    await api.setProfile({
      profile: {
        nickname: "n".repeat(500),
        customFields: { Tag_Profile_Custom_Hobby: str("h".repeat(500)) },
      },
    });
    await api.setProfile({ profile: { customFields: { Tag_Profile_Custom_Hobby: str("") } } });
    const { profiles } = await api.getProfiles({
      userIds: [me!],
      fields: ["Tag_Profile_IM_Nick", "Tag_Profile_Custom_Hobby"],
    });
    expect(profiles[0]?.nickname).toHaveLength(500);
    expect(profiles[0]?.customFields.Tag_Profile_Custom_Hobby?.value.value).toBe("");
  });

  it("rejects unknown and unreadable field names in reads, and empty or oversized requests", async () => {
    const [me] = await h.users(1);
    const api = h.profiles(me!);
    let f = await failureOf(
      api.getProfiles({ userIds: [me!], fields: ["Tag_Profile_IM_Nick", "Nick"] }),
    );
    expect([f.code, f.reason, f.field]).toEqual([
      Code.InvalidArgument,
      ErrorReason.INVALID_FIELD,
      "fields[1]",
    ]);
    f = await failureOf(api.getProfiles({ userIds: [me!], fields: ["Tag_Profile_Custom_Secret"] }));
    expect([f.code, f.reason, f.field]).toEqual([
      Code.PermissionDenied,
      ErrorReason.FIELD_NOT_READABLE,
      "fields[0]",
    ]);
    f = await failureOf(
      api.getProfiles({ userIds: Array.from({ length: 101 }, (_, i) => `u${i}`) }),
    );
    expect([f.reason, f.field]).toEqual([ErrorReason.TOO_MANY_ITEMS, "user_ids"]);
    f = await failureOf(api.setProfile({ profile: {} }));
    expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_FIELD, "profile"]);
  });

  it("lets administrators set anyone's admin fields, and app users only their own profile", async () => {
    const [a, b] = await h.users(2);
    let f = await failureOf(
      h.profiles(a!).setProfile({ userId: b!, profile: { nickname: "hijack" } }),
    );
    expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.ADMIN_REQUIRED]);
    await h.adminProfiles.setProfile({
      userId: b!,
      profile: {
        adminForbidType: AdminForbidType.SEND_OUT,
        customFields: { Tag_Profile_Custom_Vip: str("gold"), Tag_Profile_Custom_Secret: str("s") },
      },
    });
    const asAdmin = await h.adminProfiles.getProfiles({
      userIds: [b!],
      fields: ["Tag_Profile_Custom_Secret"],
    });
    expect(asAdmin.profiles[0]?.customFields.Tag_Profile_Custom_Secret?.value.value).toBe("s");
    const asApp = await h.profiles(a!).getProfiles({ userIds: [b!] });
    expect(asApp.profiles[0]?.adminForbidType).toBe(AdminForbidType.SEND_OUT);
    expect(asApp.profiles[0]?.customFields.Tag_Profile_Custom_Vip?.value.value).toBe("gold");
    f = await failureOf(
      h.adminProfiles.setProfile({ userId: "ghost", profile: { nickname: "x" } }),
    );
    expect([f.code, f.reason, f.field]).toEqual([
      Code.NotFound,
      ErrorReason.USER_NOT_FOUND,
      "user_id",
    ]);
  });

  it("imports profiles in bulk, validating the whole batch first", async () => {
    const [a, b] = await h.users(2);
    const f = await failureOf(
      h.adminProfiles.importProfiles({
        profiles: [
          { userId: a!, nickname: "A" },
          { userId: "ghost", nickname: "G" },
        ],
      }),
    );
    expect([f.code, f.reason, f.field]).toEqual([
      Code.NotFound,
      ErrorReason.USER_NOT_FOUND,
      "profiles[1].user_id",
    ]);
    const g = await failureOf(
      h.adminProfiles.importProfiles({
        profiles: [
          { userId: a!, nickname: "A" },
          { userId: b!, level: 1, gender: 5 as Gender },
        ],
      }),
    );
    expect([g.reason, g.field]).toEqual([ErrorReason.INVALID_FIELD, "profiles[1].gender"]);
    expect(
      (await h.adminProfiles.getProfiles({ userIds: [a!], fields: ["Tag_Profile_IM_Nick"] }))
        .profiles[0]?.nickname,
    ).toBe(`nick ${a}`);
    expect(
      await h.adminProfiles.importProfiles({
        profiles: [
          { userId: a!, nickname: "A", adminForbidType: AdminForbidType.SEND_OUT },
          { userId: b!, level: 9 },
        ],
      }),
    ).toMatchObject({ userIds: [a, b] });
    const { profiles } = await h.adminProfiles.getProfiles({ userIds: [a!, b!] });
    expect([profiles[0]?.nickname, profiles[0]?.adminForbidType, profiles[1]?.level]).toEqual([
      "A",
      AdminForbidType.SEND_OUT,
      9,
    ]);
    const dup = await failureOf(
      h.adminProfiles.importProfiles({
        profiles: [
          { userId: a!, level: 1 },
          { userId: a!, level: 2 },
        ],
      }),
    );
    expect([dup.reason, dup.field]).toEqual([ErrorReason.INVALID_FIELD, "profiles[1].user_id"]);
    const app = await failureOf(
      h.profiles(a!).importProfiles({ profiles: [{ userId: a!, level: 1 }] }),
    );
    expect(app.reason).toBe(ErrorReason.ADMIN_REQUIRED);
  });

  it("delivers changes to the user's own devices and their friends, not to strangers", async () => {
    const [me, fan, stranger] = await h.users(3);
    // fan has me as a (one-way) friend: fan sees my profile changes.
    await h.adminRelations.importFriends({ userId: fan!, friends: [{ userId: me! }] });
    const [mine1, mine2, fans, strangers] = await Promise.all([
      openLive(h.app.baseUrl, me!, "phone"),
      openLive(h.app.baseUrl, me!, "laptop"),
      openLive(h.app.baseUrl, fan!),
      openLive(h.app.baseUrl, stranger!),
    ]);
    try {
      await h.profiles(me!).setProfile({
        profile: { nickname: "New", customFields: { Tag_Profile_Custom_Hobby: str("go") } },
      });
      await h.adminProfiles.setProfile({
        userId: me!,
        profile: { customFields: { Tag_Profile_Custom_Secret: str("x") } },
      });
      for (const s of [mine1, mine2, fans]) {
        const e = await s.waitFor("profileChanged");
        expect(e.profile?.userId).toBe(me);
        expect(e.profile?.nickname).toBe("New");
        expect(e.profile?.customFields.Tag_Profile_Custom_Hobby?.value.value).toBe("go");
        // Only the changed fields travel.
        expect(e.profile?.gender).toBeUndefined();
      }
      await settle();
      expect(strangers.all("profileChanged")).toEqual([]);
      // The admin-only change is not an app-visible event at all.
      expect(fans.all("profileChanged")).toHaveLength(1);
    } finally {
      for (const s of [mine1, mine2, fans, strangers]) s.close();
    }
  });
});
