import type { EventHandler } from "./bus.js";
import { PoisonEventError } from "./errors.js";

/**
 * One handler for a consumer whose stream carries several subjects (the
 * "fanout" consumer reads one-to-one and group messages): each event goes to
 * the handler of its subject. An event on a subject without a handler cannot
 * be processed by any process and is terminated as poison.
 */
export function routeBySubject(routes: Readonly<Record<string, EventHandler>>): EventHandler {
  return async (event) => {
    const handler = routes[event.subject];
    if (handler === undefined) {
      throw new PoisonEventError(`no handler for subject ${event.subject}`);
    }
    await handler(event);
  };
}
