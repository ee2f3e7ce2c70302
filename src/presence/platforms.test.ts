import { describe, expect, it } from "vitest";
import { Platform } from "../gen/im/v1/events_pb.js";
import { isKnownPlatform, isMobile, type LoginPolicy, loginSlot } from "./platforms.js";

const P = Platform;
/** Does a login on `newer` end a device already signed in on `older`? */
const kicks = (policy: LoginPolicy, older: Platform, newer: Platform): boolean => {
  const slot = loginSlot(policy, newer);
  return slot !== undefined && loginSlot(policy, older) === slot;
};

// The reference's "Multi-device login" table, as (older, newer) pairs: true = older is kicked.
const MATRIX: [LoginPolicy, Platform, Platform, boolean][] = [
  // single: one device on any platform.
  ["single", P.IOS, P.ANDROID, true],
  ["single", P.WEB, P.WINDOWS, true],
  ["single", P.MACOS, P.WEB, true],
  ["single", P.IPAD, P.IOS, true],
  ["single", P.MINI_PROGRAM, P.LINUX, true],
  // dual (default): web + one of Android/iPhone/iPad/Windows/Mac.
  ["dual", P.IOS, P.ANDROID, true],
  ["dual", P.IOS, P.WINDOWS, true],
  ["dual", P.MACOS, P.IPAD, true],
  ["dual", P.WEB, P.IOS, false],
  ["dual", P.WINDOWS, P.WEB, false],
  ["dual", P.WEB, P.WEB, true],
  ["dual", P.WEB, P.MINI_PROGRAM, true],
  // triple: web + Android/iPhone/iPad + Windows/Mac.
  ["triple", P.IOS, P.ANDROID, true],
  ["triple", P.IPAD, P.IOS, true],
  ["triple", P.IOS, P.WINDOWS, false],
  ["triple", P.WINDOWS, P.MACOS, true],
  ["triple", P.LINUX, P.DESKTOP, true],
  ["triple", P.WEB, P.MACOS, false],
  ["triple", P.ANDROID, P.WEB, false],
  // multi: one device per platform.
  ["multi", P.IOS, P.ANDROID, false],
  ["multi", P.IOS, P.IPAD, false],
  ["multi", P.WINDOWS, P.MACOS, false],
  ["multi", P.WEB, P.MINI_PROGRAM, false],
  ["multi", P.IOS, P.IOS, true],
  ["multi", P.WEB, P.WEB, true],
  ["multi", P.WINDOWS, P.WINDOWS, true],
];

describe("login policy matrix", () => {
  it.each(MATRIX)("%s: a login on %i after %i kicks it: %s", (policy, older, newer, expected) => {
    expect(kicks(policy, older, newer)).toBe(expected);
  });

  it("leaves headless clients out of every policy", () => {
    for (const policy of ["single", "dual", "triple", "multi"] as LoginPolicy[]) {
      for (const headless of [P.UNSPECIFIED, P.SERVER]) {
        expect(loginSlot(policy, headless)).toBeUndefined();
        expect(kicks(policy, P.IOS, headless)).toBe(false);
        expect(kicks(policy, headless, P.IOS)).toBe(false);
      }
    }
  });
});

describe("platforms", () => {
  it("knows only mobile platforms as PushOnline-capable", () => {
    expect([P.IOS, P.ANDROID, P.IPAD].every(isMobile)).toBe(true);
    expect(
      [P.WEB, P.DESKTOP, P.WINDOWS, P.MACOS, P.LINUX, P.MINI_PROGRAM, P.SERVER, P.UNSPECIFIED].some(
        isMobile,
      ),
    ).toBe(false);
  });

  it("refuses values outside the enum", () => {
    expect(isKnownPlatform(P.MINI_PROGRAM)).toBe(true);
    expect(isKnownPlatform(99)).toBe(false);
    expect(isKnownPlatform(-1)).toBe(false);
  });
});
