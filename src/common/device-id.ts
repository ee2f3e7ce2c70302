import { invalidField } from "../errors/domain-error.js";

const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Throws InvalidArgument naming `field` unless `deviceId` is 1-64 characters of [A-Za-z0-9_.:-]. */
export function assertDeviceId(deviceId: string, field = "device_id"): void {
  if (!DEVICE_ID.test(deviceId)) {
    throw invalidField(field, "1-64 characters of [A-Za-z0-9_.:-] required");
  }
}
