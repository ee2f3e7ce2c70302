import type { Worker } from "../common/component.js";
import type { Logger } from "../log/logger.js";
import { exposeGc } from "./expose-gc.js";
import { createYoungGenerationRelease } from "./young-generation-release.js";

/** Starts the idle young-generation release, unless off (0) or the runtime refuses gc. */
export function startYoungGenerationRelease(
  intervalMs: number,
  logger: Logger,
): Worker | undefined {
  if (intervalMs === 0) return undefined;
  const gc = exposeGc();
  if (gc === undefined) {
    logger.warn("young-generation release off: this runtime gives no gc function");
    return undefined;
  }
  const worker = createYoungGenerationRelease({ intervalMs, gc, logger });
  worker.start();
  return worker;
}
