/**
 * A user's streams on this node by device id. Nearly every user streams from
 * one device: that stream is held directly, and a Map (~184 B with its table)
 * is made only for a second device, and kept until the user's entry goes.
 */
export interface DeviceSlots<T extends { owner: { deviceId: string } }> {
  one: T | undefined;
  many: Map<string, T> | undefined;
}

const NONE: readonly never[] = [];

export function deviceGet<T extends { owner: { deviceId: string } }>(
  slots: DeviceSlots<T>,
  deviceId: string,
): T | undefined {
  if (slots.many !== undefined) return slots.many.get(deviceId);
  return slots.one?.owner.deviceId === deviceId ? slots.one : undefined;
}

/** Sets the device's stream, replacing the one it had. */
export function deviceSet<T extends { owner: { deviceId: string } }>(
  slots: DeviceSlots<T>,
  stream: T,
): void {
  const { deviceId } = stream.owner;
  if (slots.many !== undefined) {
    slots.many.set(deviceId, stream);
  } else if (slots.one === undefined || slots.one.owner.deviceId === deviceId) {
    slots.one = stream;
  } else {
    slots.many = new Map([
      [slots.one.owner.deviceId, slots.one],
      [deviceId, stream],
    ]);
    slots.one = undefined;
  }
}

export function deviceDelete<T extends { owner: { deviceId: string } }>(
  slots: DeviceSlots<T>,
  deviceId: string,
): void {
  if (slots.many !== undefined) slots.many.delete(deviceId);
  else if (slots.one?.owner.deviceId === deviceId) slots.one = undefined;
}

export function deviceCount(slots: DeviceSlots<{ owner: { deviceId: string } }>): number {
  if (slots.many !== undefined) return slots.many.size;
  return slots.one === undefined ? 0 : 1;
}

/** The streams, safe to change while iterating (a Map's live iterator, or a copy). */
export function deviceStreams<T extends { owner: { deviceId: string } }>(
  slots: DeviceSlots<T>,
): Iterable<T> {
  if (slots.many !== undefined) return slots.many.values();
  return slots.one === undefined ? NONE : [slots.one];
}
