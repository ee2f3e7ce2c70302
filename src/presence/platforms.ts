/** Platforms: which are mobile (PushOnline), and which share a login slot under each policy. */
import { Platform } from "../gen/im/v1/events_pb.js";

/** The reference's multi-device login policies. */
export const LOGIN_POLICIES = ["single", "dual", "triple", "multi"] as const;
export type LoginPolicy = (typeof LOGIN_POLICIES)[number];

const KNOWN = new Set<number>(
  Object.values(Platform).filter((v): v is number => typeof v === "number"),
);

/** True for a value of the Platform enum this server was built with. */
export const isKnownPlatform = (p: number): boolean => KNOWN.has(p);

type PlatformClass = "mobile" | "desktop" | "web" | "headless";

export function platformClass(p: Platform): PlatformClass {
  switch (p) {
    case Platform.IOS:
    case Platform.ANDROID:
    case Platform.IPAD:
      return "mobile";
    case Platform.DESKTOP:
    case Platform.WINDOWS:
    case Platform.MACOS:
    case Platform.LINUX:
      return "desktop";
    case Platform.WEB:
    case Platform.MINI_PROGRAM:
      return "web";
    default:
      return "headless";
  }
}

/** Only mobile clients are ever PushOnline (reference "Online Status Management"). */
export const isMobile = (p: Platform): boolean => platformClass(p) === "mobile";

/**
 * The login slot a device of platform `p` takes under `policy`: a new login ends the
 * user's other devices in the same slot. Undefined: outside the policy (headless
 * clients, PLATFORM_UNSPECIFIED), never kicked and never kicking.
 *
 * - single: one device across all platforms;
 * - dual (reference default): web, plus one of Android/iPhone/iPad/Windows/Mac;
 * - triple: web, one mobile, one desktop;
 * - multi: one device per platform.
 */
export function loginSlot(policy: LoginPolicy, p: Platform): string | undefined {
  const cls = platformClass(p);
  if (cls === "headless") return undefined;
  switch (policy) {
    case "single":
      return "all";
    case "dual":
      return cls === "web" ? "web" : "app";
    case "triple":
      return cls;
    case "multi":
      // Mini programs and the web are separate platforms; DESKTOP counts as its own.
      return `p${p}`;
  }
}
