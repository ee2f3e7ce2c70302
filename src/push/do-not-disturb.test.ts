import { describe, expect, it } from "vitest";
import { type DoNotDisturbWindow, inDoNotDisturb } from "./do-not-disturb.js";

const window = (start: number, end: number, timeZone: string): DoNotDisturbWindow => ({
  startMinute: start,
  endMinute: end,
  timeZone,
});
// 22:00-07:00 in Berlin (UTC+1 in January): spans midnight.
const berlinNight = window(22 * 60, 7 * 60, "Europe/Berlin");
// 12:00-13:00 in Tokyo (UTC+9).
const tokyoLunch = window(12 * 60, 13 * 60, "Asia/Tokyo");

describe("do-not-disturb window", () => {
  it.each([
    [berlinNight, "2026-01-10T21:30:00Z", true], // 22:30 there
    [berlinNight, "2026-01-10T20:30:00Z", false], // 21:30
    [berlinNight, "2026-01-11T05:59:00Z", true], // 06:59
    [berlinNight, "2026-01-11T06:00:00Z", false], // 07:00, end exclusive
    [tokyoLunch, "2026-06-01T03:00:00Z", true], // 12:00, start inclusive
    [tokyoLunch, "2026-06-01T12:00:00Z", false], // 21:00
    // Empty zone is UTC; equal bounds mean all day.
    [window(0, 60, ""), "2026-06-01T00:30:00Z", true],
    [window(300, 300, "America/New_York"), "2026-06-01T17:00:00Z", true],
  ] as const)("%o at %s → %s", (w, iso, expected) => {
    expect(inDoNotDisturb(w, Date.parse(iso))).toBe(expected);
  });
});
