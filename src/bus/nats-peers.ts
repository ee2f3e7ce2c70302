/**
 * A roll call of the nodes on one namespace. Live events are core NATS: one published
 * after the server's return but before another node has reconnected and renewed its
 * subscriptions never reaches that node's devices. So a node back from an outage
 * waits until every node that answered before it answers again (nats.js renews a
 * connection's subscriptions together, before anything else, so an answer proves the
 * live ones are back too), or until a node that died meanwhile has had its time.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";

export interface NatsPeers {
  /**
   * Resolves once every node known before the outage answers the roll call, or
   * `capMs` after the call (the nodes that never answered are logged).
   */
  rejoined(): Promise<void>;
  stop(): void;
}

export interface NatsPeersOptions {
  subject: string;
  logger: Logger;
  /** How long a roll call collects answers. */
  answerMs: number;
  /** How often the known nodes are refreshed while connected. */
  refreshMs: number;
  /** Bound on waiting for nodes (one that died during the outage never answers). */
  capMs: number;
  /** The connection's number (it changes on every loss), undefined while disconnected. */
  connection(): number | undefined;
}

export function createNatsPeers(nc: NatsConnection, options: NatsPeersOptions): NatsPeers {
  const self = crypto.randomUUID();
  const selfBytes = new TextEncoder().encode(self);
  const decoder = new TextDecoder();
  let known = new Set<string>();
  /** Nodes that called the roll since `known` was last settled (one may start after it). */
  const callers = new Set<string>();
  let stopped = false;

  // A call names its caller: of two nodes starting together, the later call reaches
  // both subscriptions, so each learns of the other (by its answer or by its call).
  const sub: Subscription = nc.subscribe(options.subject, {
    callback: (err, msg) => {
      if (err !== null) return;
      const caller = decoder.decode(msg.data);
      if (caller !== "" && caller !== self) {
        learn(caller);
        callers.add(caller);
      }
      msg.respond(selfBytes);
    },
  });
  function learn(id: string) {
    if (known.has(id)) return;
    known.add(id);
    options.logger.debug("bus: node seen", { node: id });
  }

  /** The known nodes from now: those that answered a whole call or called meanwhile. */
  const settle = (answered: Set<string>) => {
    for (const id of callers) answered.add(id);
    callers.clear();
    known = answered;
  };

  /** The nodes answering now, this one left out; done early once `expected` others answered. */
  const roll = async (expected?: number): Promise<Set<string>> => {
    const answered = new Set<string>();
    const answers = await nc.requestMany(options.subject, selfBytes, {
      maxWait: options.answerMs,
      ...(expected === undefined
        ? { strategy: "timer" }
        : { strategy: "count", maxMessages: expected + 1 }),
    });
    for await (const m of answers) {
      const id = decoder.decode(m.data);
      if (id === self) continue;
      answered.add(id);
      learn(id);
    }
    return answered;
  };

  const refresh = () => {
    if (stopped || nc.isClosed()) return;
    const connection = options.connection();
    roll().then(
      (answered) => {
        // Silence is news only from a connection that held for the whole call.
        if (connection === undefined || connection !== options.connection()) return;
        settle(answered);
      },
      // Disconnected meanwhile: the last known nodes stand.
      () => {},
    );
  };
  refresh();
  const timer = setInterval(refresh, options.refreshMs);
  timer.unref();

  return {
    async rejoined() {
      const expected = new Set(known);
      const started = performance.now();
      for (;;) {
        const answered = await roll(expected.size).catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, options.answerMs));
          return new Set<string>();
        });
        const missing = [...expected].filter((id) => !answered.has(id));
        if (missing.length === 0 || stopped) {
          settle(answered);
          return;
        }
        if (performance.now() - started >= options.capMs) {
          options.logger.warn("bus: nodes not back after the outage; going on without them", {
            missing: missing.length,
          });
          settle(answered);
          return;
        }
      }
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      if (!nc.isClosed()) sub.unsubscribe();
    },
  };
}
