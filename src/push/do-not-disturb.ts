import { invalidField } from "../errors/domain-error.js";

/** A daily quiet period in local time (minutes after midnight; end exclusive). */
export interface DoNotDisturbWindow {
  startMinute: number;
  endMinute: number;
  /** IANA zone; "" is UTC. */
  timeZone: string;
}

const MINUTES_PER_DAY = 24 * 60;

/** Throws InvalidArgument naming the field of a window that cannot be applied. */
export function assertWindow(w: DoNotDisturbWindow): void {
  if (!(w.startMinute < MINUTES_PER_DAY)) throw invalidField("window.start_minute", "0-1439");
  if (!(w.endMinute < MINUTES_PER_DAY)) throw invalidField("window.end_minute", "0-1439");
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: w.timeZone || "UTC" });
  } catch {
    throw invalidField("window.time_zone", "an IANA time zone such as Europe/Berlin");
  }
}

/** Minutes after local midnight at `nowMs` in `timeZone`. */
function localMinute(nowMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timeZone || "UTC",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(nowMs);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return get("hour") * 60 + get("minute");
}

/** Whether the window is active at `nowMs` (spanning midnight when end < start; all day when equal). */
export function inDoNotDisturb(w: DoNotDisturbWindow, nowMs: number): boolean {
  if (w.startMinute === w.endMinute) return true;
  const m = localMinute(nowMs, w.timeZone);
  return w.startMinute < w.endMinute
    ? m >= w.startMinute && m < w.endMinute
    : m >= w.startMinute || m < w.endMinute;
}
