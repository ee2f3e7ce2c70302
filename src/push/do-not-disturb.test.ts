import { describe, expect, it } from "vitest";
import { inDoNotDisturb } from "./do-not-disturb.js";

const at = (iso: string) => Date.parse(iso);

describe("do-not-disturb window", () => {
  it.each([
    // 22:00-07:00 in Berlin (UTC+1 in January): 21:30 UTC is 22:30 there.
    [
      { startMinute: 22 * 60, endMinute: 7 * 60, timeZone: "Europe/Berlin" },
      "2026-01-10T21:30:00Z",
      true,
    ],
    [
      { startMinute: 22 * 60, endMinute: 7 * 60, timeZone: "Europe/Berlin" },
      "2026-01-10T20:30:00Z",
      false,
    ],
    [
      { startMinute: 22 * 60, endMinute: 7 * 60, timeZone: "Europe/Berlin" },
      "2026-01-11T05:59:00Z",
      true,
    ],
    [
      { startMinute: 22 * 60, endMinute: 7 * 60, timeZone: "Europe/Berlin" },
      "2026-01-11T06:00:00Z",
      false,
    ],
    // Daytime window in Tokyo (UTC+9): 03:00 UTC is 12:00 there.
    [
      { startMinute: 12 * 60, endMinute: 13 * 60, timeZone: "Asia/Tokyo" },
      "2026-06-01T03:00:00Z",
      true,
    ],
    [
      { startMinute: 12 * 60, endMinute: 13 * 60, timeZone: "Asia/Tokyo" },
      "2026-06-01T12:00:00Z",
      false,
    ],
    // Empty zone is UTC; equal bounds mean all day.
    [{ startMinute: 0, endMinute: 60, timeZone: "" }, "2026-06-01T00:30:00Z", true],
    [
      { startMinute: 300, endMinute: 300, timeZone: "America/New_York" },
      "2026-06-01T17:00:00Z",
      true,
    ],
  ])("%o at %s → %s", (window, iso, expected) => {
    expect(inDoNotDisturb(window, at(iso))).toBe(expected);
  });
});
