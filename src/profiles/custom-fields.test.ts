import { describe, expect, it } from "vitest";
import { readConfig } from "../config/config.js";
import { ConfigError } from "../config/settings.js";
import { parseCustomFieldSpecs } from "./custom-fields.js";

const P = "Tag_Profile_Custom";

describe("parseCustomFieldSpecs", () => {
  it("reads keywords, types and permissions with defaults", () => {
    expect(
      parseCustomFieldSpecs(
        " Hobby , Tag_Profile_Custom_Vip:string:app+admin:admin,Pic:bytes:admin",
        P,
        {
          permissions: true,
        },
      ),
    ).toEqual([
      {
        name: "Tag_Profile_Custom_Hobby",
        type: "string",
        read: { app: true, admin: true },
        write: { app: true, admin: true },
      },
      {
        name: "Tag_Profile_Custom_Vip",
        type: "string",
        read: { app: true, admin: true },
        write: { app: false, admin: true },
      },
      {
        name: "Tag_Profile_Custom_Pic",
        type: "bytes",
        read: { app: false, admin: true },
        write: { app: true, admin: true },
      },
    ]);
    expect(parseCustomFieldSpecs("", P, { permissions: true })).toEqual([]);
  });

  it.each([
    ["a keyword over 8 letters", "Ninechars"],
    ["a keyword with digits", "Abc1"],
    ["an empty keyword", ":string"],
    ["an unknown type", "Hobby:int"],
    ["an unknown permission", "Hobby:string:everyone"],
    ["a duplicate", "Hobby,Tag_Profile_Custom_Hobby"],
    ["too many parts", "Hobby:string:app:app:app"],
  ])("rejects %s", (_name, spec) => {
    expect(() => parseCustomFieldSpecs(spec, P, { permissions: true })).toThrow();
  });

  it("takes no permissions for friend fields", () => {
    expect(() =>
      parseCustomFieldSpecs("Tag:string:app", "Tag_SNS_Custom", { permissions: false }),
    ).toThrow();
    expect(
      parseCustomFieldSpecs("Tag:bytes", "Tag_SNS_Custom", { permissions: false })[0]?.name,
    ).toBe("Tag_SNS_Custom_Tag");
  });
});

describe("profile and relationship settings", () => {
  it("default to the reference's limits", () => {
    const c = readConfig({});
    expect(c.relations).toMatchObject({
      friendMax: 3000,
      pendingRequestMax: 100,
      friendListMax: 32,
      blocklistMax: 1000,
      batchMax: 1000,
      customFields: [],
    });
    expect(c.profiles).toMatchObject({ batchMax: 100, customFields: [] });
    expect(c.c2cPolicy).toEqual({ friendsOnly: false, blockedSend: "reject" });
  });

  it.each([
    ["PROFILE_CUSTOM_FIELDS", "Way_too_long"],
    ["FRIEND_CUSTOM_FIELDS", "A:b:c"],
    ["FRIEND_MAX", "0"],
    ["C2C_FRIENDS_ONLY", "maybe"],
    ["C2C_BLOCKED_SEND", "ignore"],
  ])("name the setting when %s is invalid", (setting, value) => {
    try {
      readConfig({ [setting]: value });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toBe(setting);
      return;
    }
    throw new Error("expected a ConfigError");
  });
});
