import type { ConnectRouter } from "@connectrpc/connect";
import type { EventHandler } from "../bus/bus.js";

/** Registers a component's RPCs on the server's router. */
export type ServiceRoutes = (router: ConnectRouter) => void;

/** A background loop a component runs on every node (outbox recovery, sweeps). */
export interface Worker {
  /** For logs. */
  name: string;
  start(): void;
  /** Stops the loop and waits for its in-flight work to settle. */
  stop(): Promise<void>;
}

/**
 * What a component's `setupX(deps)` hands the composition root: the RPCs it
 * serves, the handlers of the durable messages stream it owns (by subject),
 * its background workers, and `stop` for whatever else it holds. The root
 * only lists components; it never reaches into one for another.
 */
export interface Component {
  services: readonly ServiceRoutes[];
  /** Handlers for subjects of the shared "fanout" consumer, one component per subject. */
  busHandlers: Readonly<Record<string, EventHandler>>;
  workers: readonly Worker[];
  /** Drains background work not covered by `workers` (called after the workers stop). */
  stop(): Promise<void>;
}

/** The pieces of a component that has nothing of a kind. */
export const noBusHandlers: Readonly<Record<string, EventHandler>> = Object.freeze({});
export const nothingToStop = async (): Promise<void> => {};

/**
 * Merges the components' bus handlers into one subject map; two components
 * claiming one subject is a wiring bug, reported at start-up.
 */
export function mergeBusHandlers(
  components: readonly Pick<Component, "busHandlers">[],
): Record<string, EventHandler> {
  const merged: Record<string, EventHandler> = {};
  for (const { busHandlers } of components) {
    for (const [subject, handler] of Object.entries(busHandlers)) {
      if (merged[subject] !== undefined) {
        throw new Error(`two components handle bus subject ${subject}`);
      }
      merged[subject] = handler;
    }
  }
  return merged;
}
