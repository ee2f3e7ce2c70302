/**
 * What the connected nats-server says about its cluster, from the INFO it sends on
 * connect: whether it is clustered, and how many servers it currently routes to (its
 * `connect_urls`, its own included). Used to refuse a replica count the cluster cannot
 * hold before asking JetStream to place it.
 */
import type { NatsConnection } from "@nats-io/transport-node";

export interface NatsCluster {
  clustered: boolean;
  /**
   * Servers up in the cluster as the connected server sees them (1 when not clustered);
   * undefined when a clustered server does not advertise them (JetStream's placement
   * then has the last word).
   */
  servers: number | undefined;
}

export function natsClusterOf(nc: NatsConnection): NatsCluster {
  const info = nc.info;
  if (info?.cluster === undefined || info.cluster === "") return { clustered: false, servers: 1 };
  const urls = info.connect_urls ?? [];
  return { clustered: true, servers: urls.length > 0 ? urls.length : undefined };
}
