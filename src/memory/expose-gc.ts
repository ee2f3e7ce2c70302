import v8 from "node:v8";
import vm from "node:vm";

export type GcFunction = (options?: {
  type: "major" | "minor";
  /** last-resort: the collection V8 makes near its heap limit, which also reduces memory. */
  flavor?: "regular" | "last-resort";
}) => void;

/**
 * V8's gc function without `--expose-gc` on the command line: the flag is set
 * only while one private context is created, so no other code gets a global gc.
 * Returns undefined if this runtime refuses (e.g. flags frozen after start-up).
 */
export function exposeGc(): GcFunction | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return global as GcFunction;
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc: unknown = vm.runInNewContext("gc");
    return typeof gc === "function" ? (gc as GcFunction) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
}
