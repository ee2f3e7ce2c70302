import { describe, expect, it } from "vitest";
import {
  type DeviceSlots,
  deviceCount,
  deviceDelete,
  deviceGet,
  deviceSet,
  deviceStreams,
} from "./device-slots.js";

type S = { owner: { deviceId: string }; n: number };
const s = (deviceId: string, n = 0): S => ({ owner: { deviceId }, n });

describe("device slots", () => {
  it("hold one device without a Map, replace it, and forget it", () => {
    const slots: DeviceSlots<S> = { one: undefined, many: undefined };
    expect([deviceCount(slots), [...deviceStreams(slots)]]).toEqual([0, []]);
    const a = s("a");
    deviceSet(slots, a);
    const a2 = s("a", 2);
    deviceSet(slots, a2);
    expect([deviceGet(slots, "a"), deviceGet(slots, "b"), deviceCount(slots)]).toEqual([
      a2,
      undefined,
      1,
    ]);
    expect(slots.many).toBeUndefined();
    deviceDelete(slots, "b");
    expect(deviceCount(slots)).toBe(1);
    deviceDelete(slots, "a");
    expect([deviceCount(slots), deviceGet(slots, "a")]).toEqual([0, undefined]);
  });

  it("make a Map for a second device, keeping both", () => {
    const slots: DeviceSlots<S> = { one: undefined, many: undefined };
    const [a, b, c] = [s("a"), s("b"), s("c")];
    deviceSet(slots, a);
    deviceSet(slots, b);
    deviceSet(slots, c);
    expect([slots.one, deviceCount(slots), [...deviceStreams(slots)]]).toEqual([
      undefined,
      3,
      [a, b, c],
    ]);
    // Deleting while iterating, as ending a stream does.
    for (const x of deviceStreams(slots)) deviceDelete(slots, x.owner.deviceId);
    expect([deviceCount(slots), deviceGet(slots, "b")]).toEqual([0, undefined]);
  });

  it("iterate a copy of the single stream, safe to delete from", () => {
    const slots: DeviceSlots<S> = { one: undefined, many: undefined };
    const a = s("a");
    deviceSet(slots, a);
    const seen: S[] = [];
    for (const x of deviceStreams(slots)) {
      deviceDelete(slots, x.owner.deviceId);
      seen.push(x);
    }
    expect([seen, deviceCount(slots)]).toEqual([[a], 0]);
  });
});
