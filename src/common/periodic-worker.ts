import type { Logger } from "../log/logger.js";
import type { Worker } from "./component.js";

/**
 * A worker that runs `run` every `intervalMs` (after the previous run ended),
 * logging a failed run and going on. It never keeps the process alive.
 */
export function createPeriodicWorker(deps: {
  name: string;
  run: () => Promise<unknown>;
  intervalMs: number;
  logger: Logger;
}): Worker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    timer = setTimeout(() => {
      running = deps
        .run()
        .catch((err: unknown) => deps.logger.warn(`${deps.name} failed`, { err }))
        .finally(() => {
          running = undefined;
          if (timer !== undefined) tick();
        });
    }, deps.intervalMs);
    timer.unref();
  };
  return {
    name: deps.name,
    start() {
      if (timer === undefined) tick();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
