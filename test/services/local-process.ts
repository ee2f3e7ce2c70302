import { createServer } from "node:net";
import { containerRunner, imageFlavour, mongoImage, natsImage, servicesMode } from "./docker.js";
import { localRunner } from "./local-runner.js";
import {
  type ProcessOptions,
  type Runner,
  type ServiceProcess,
  startManagedProcess,
} from "./managed-process.js";
import { ferretDbBinary, natsServerBinary } from "./paths.js";
import { pingMongo, pingNats, placeReplicatedStream, waitUntil } from "./readiness.js";

export type { ServiceProcess } from "./managed-process.js";

/** A loopback port free right now (the OS picks it; someone may still take it before we bind). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error(`unexpected listen address ${String(address)}`));
      });
    });
  });
}

/**
 * How a server runs: a local process of the binary build.sh makes, or a container of the
 * image the settings select (docker.ts). By default containers only in IM_TEST_SERVICES=docker.
 */
export type RunVia = "local" | "docker";

function defaultVia(): RunVia {
  return servicesMode() === "docker" ? "docker" : "local";
}

export interface FerretDbOptions {
  port?: number;
  /** Data directory; reuse one to see the data of an earlier instance. */
  dataDir?: string;
  startTimeoutMs?: number;
  via?: RunVia;
}

/**
 * A private document store: FerretDB (MongoDB wire protocol over SQLite) built by
 * test/services/build.sh, or a container of IM_TEST_MONGO_IMAGE (real mongo, or FerretDB
 * in an image of ours, which takes FerretDB's command line).
 */
export async function startFerretDb(options: FerretDbOptions = {}): Promise<ServiceProcess> {
  const via = options.via ?? defaultVia();
  let runner: Runner = localRunner(ferretDbBinary());
  let ferretArgs = true;
  if (via === "docker") {
    const image = mongoImage();
    runner = containerRunner(image);
    ferretArgs = (await imageFlavour(image)) === "ferretdb";
  }
  return startManagedProcess(
    {
      name: ferretArgs ? "FerretDB" : "MongoDB",
      runner,
      args: (port, dir) =>
        ferretArgs
          ? ["-listen", `127.0.0.1:${port}`, "-dir", dir]
          : ["--port", String(port), "--bind_ip", "127.0.0.1", "--dbpath", dir],
      url: (port) => `mongodb://127.0.0.1:${port}/`,
      probe: (url) => pingMongo(url),
    },
    options,
    freePort,
  );
}

function natsRunner(via: RunVia): Runner {
  return via === "docker" ? containerRunner(natsImage()) : localRunner(natsServerBinary());
}

export interface NatsServerOptions {
  port?: number;
  /** JetStream store directory; reuse one to see the streams of an earlier instance. */
  storeDir?: string;
  startTimeoutMs?: number;
  via?: RunVia;
}

/** A private nats-server with JetStream on, built by test/services/build.sh (or its image). */
export function startNatsServer(options: NatsServerOptions = {}): Promise<ServiceProcess> {
  const processOptions: ProcessOptions = {
    port: options.port,
    dataDir: options.storeDir,
    startTimeoutMs: options.startTimeoutMs,
  };
  return startManagedProcess(
    {
      name: "nats-server",
      runner: natsRunner(options.via ?? defaultVia()),
      args: (port, dir) => ["-js", "-sd", dir, "-p", String(port), "-a", "127.0.0.1"],
      url: (port) => `nats://127.0.0.1:${port}`,
      probe: (url) => pingNats(url),
    },
    processOptions,
    freePort,
  );
}

export interface NatsCluster {
  /** The three servers, in order; each can be killed and restarted on its own. */
  servers: ServiceProcess[];
  /** Every server's client URL, comma-separated (what NATS_URL takes). */
  url: string;
  /** The name a server has in the cluster (JetStream's `cluster.leader` names it so). */
  nameOf(server: ServiceProcess): string;
  dispose(): Promise<void>;
}

/**
 * A cluster of JetStream nats-servers on loopback: routes on free ports, a store dir per
 * server. Started together: JetStream answers only once a majority has elected a meta
 * leader, so a server alone never passes its readiness probe.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  // Route ports are picked free but not held: one taken meanwhile (by another
  // server's client port, or another run) leaves the routes unmeshed for good,
  // so a cluster that never places replicas is started again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size);
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

async function startNatsClusterOnce(size: number): Promise<NatsCluster> {
  const clusterName = `im-test-${process.pid}-${(await freePort()).toString(36)}`;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const names = routePorts.map((_, i) => `n${i + 1}`);
  const started = await Promise.allSettled(
    names.map((name, i) =>
      startManagedProcess(
        {
          name: `nats-server ${name}`,
          runner: natsRunner(defaultVia()),
          args: (port, dir) => [
            ...["-js", "-sd", dir, "-p", String(port), "-a", "127.0.0.1", "-n", name],
            ...["--cluster_name", clusterName, "--cluster", `nats://127.0.0.1:${routePorts[i]}`],
            ...["--routes", routes],
          ],
          url: (port) => `nats://127.0.0.1:${port}`,
          probe: (url) => pingNats(url),
        },
        {},
        freePort,
      ),
    ),
  );
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw (failed as PromiseRejectedResult).reason;
  }
  const url = servers.map((s) => s.url).join(",");
  // Answering is not enough: JetStream places replicas only on servers that have
  // joined its meta group, which a just-started cluster may not have done yet.
  try {
    await waitUntil(() => placeReplicatedStream(url, size), {
      what: `JetStream placing R${size} on the cluster ${url}`,
      timeoutMs: 30_000,
    });
  } catch (error) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw error;
  }
  return {
    servers,
    url,
    nameOf: (server) => names[servers.indexOf(server)] ?? "?",
    dispose: async () => {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}
