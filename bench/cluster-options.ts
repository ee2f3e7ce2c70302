import { parseFlags } from "./flags.js";
import { SERVER_ENV_USAGE } from "./server-env-option.js";

export interface ClusterOptions {
  /** Server nodes (processes), all on the one NATS cluster and the one store. */
  nodes: number;
  /** The nodes' NATS_STREAM_REPLICAS. */
  replicas: number;
  /** One-to-one pairs, spread over the nodes (sender on one node, receiver on the next). */
  pairs: number;
  /** Members of each node's group, their streams spread over the nodes. */
  groupMembers: number;
  /** Messages/s to each node's group. */
  groupRate: number;
  /** Group messages outstanding until fully delivered, per node, at most. */
  groupWindow: number;
  durationSec: number;
  warmupSec: number;
  baselineSec: number;
  /** HTTP/2 connections per node, for senders and as many again for streams. */
  connections: number;
  serverEnv: Record<string, string>;
}

export const CLUSTER_USAGE = `usage: npm run bench -- cluster [options]

  N server nodes (processes) on a three-server nats-server cluster (JetStream, R3
  streams) and one FerretDB: one-to-one (closed loop, receivers on another node than
  their sender) then group (one group per node, sent to through that node, members'
  streams spread over the nodes) throughput per node and in total; JetStream publish
  R3 against R1 on the same cluster, in the same run.

  --nodes N           server nodes (default 2, at most 8)
  --replicas R        the nodes' NATS_STREAM_REPLICAS (default 3; 1 for comparison)
  --pairs P           one-to-one pairs over all nodes (default 60)
  --group-members M   members of each node's group, all online (default 200)
  --group-rate R      messages/s to each node's group (default 10)
  --group-window W    group messages outstanding per node until fully delivered (default 8)
  --duration S        measured seconds per phase (default 20)
  --warmup S          unmeasured seconds before each phase (default min(5, duration/10))
  --baseline S        seconds per raw-stack baseline (default 3)
  --connections K     HTTP/2 connections per node for senders, K more for streams (default 2)
${SERVER_ENV_USAGE}`;

export function parseClusterOptions(argv: string[]): ClusterOptions {
  const { serverEnv, num } = parseFlags(argv, [
    "nodes",
    "replicas",
    "pairs",
    "group-members",
    "group-rate",
    "group-window",
    "duration",
    "warmup",
    "baseline",
    "connections",
    "server-env",
  ]);
  const durationSec = num("duration", 20, 1, 600);
  const replicas = Math.floor(num("replicas", 3, 1, 3));
  return {
    nodes: Math.floor(num("nodes", 2, 1, 8)),
    replicas,
    pairs: Math.floor(num("pairs", 60, 1, 5000)),
    groupMembers: Math.floor(num("group-members", 200, 1, 2000)),
    groupRate: num("group-rate", 10, 0.1, 40),
    groupWindow: Math.floor(num("group-window", 8, 1, 1000)),
    durationSec,
    warmupSec: num("warmup", Math.min(5, durationSec / 10), 0, 60),
    baselineSec: num("baseline", 3, 0.5, 60),
    connections: Math.floor(num("connections", 2, 1, 64)),
    serverEnv,
  };
}
