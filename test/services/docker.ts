import { hostname } from "node:os";
import type { Launched, Runner } from "./managed-process.js";
import { forgetContainer, removeContainerOnExit } from "./process-reaper.js";

/*
 * The testcontainers path. Settings (environment):
 *   IM_TEST_SERVICES    auto (default): URLs from the environment, else containers when an
 *                       engine answers, else local processes; `docker`: containers for every
 *                       server the tests start, shared and private (fault tests), failing
 *                       if no engine answers; `local`: local processes only.
 *   IM_TEST_MONGO_IMAGE the document store's image (default mongo:7)
 *   IM_TEST_NATS_IMAGE  nats-server's image (default nats:2.10)
 * Containers use host networking and bind to loopback, so URLs, ports and data paths are
 * the same as for a local process. Testcontainers' reaper (Ryuk) is off: it is an image
 * pulled from a registry; we label our containers and remove them ourselves (process-reaper.ts
 * when this process dies, removeStaleContainers() at the next run's start).
 */

export type ServicesMode = "auto" | "docker" | "local";

export function servicesMode(env: NodeJS.ProcessEnv = process.env): ServicesMode {
  const mode = env.IM_TEST_SERVICES || "auto";
  if (mode === "auto" || mode === "docker" || mode === "local") return mode;
  throw new Error(`IM_TEST_SERVICES=${mode}: expected auto, docker or local`);
}

export function mongoImage(env: NodeJS.ProcessEnv = process.env): string {
  return env.IM_TEST_MONGO_IMAGE || "mongo:7";
}

export function natsImage(env: NodeJS.ProcessEnv = process.env): string {
  return env.IM_TEST_NATS_IMAGE || "nats:2.10";
}

/** Every container the tests start carries this label; its value says whose it is. */
export const OWNER_LABEL = "im-server.test.owner";

/** Images built by test/services/images.sh say which command line they take with this label. */
export const FLAVOUR_LABEL = "im-server.test.flavour";

export function ownerValue(pid = process.pid): string {
  return `${hostname()}/${pid}`;
}

type Testcontainers = typeof import("testcontainers");

/** testcontainers is loaded lazily: it is slow to load and only useful when an engine answers. */
async function testcontainers(): Promise<Testcontainers> {
  // Before the import: the reaper image cannot be had everywhere, and we clean up ourselves.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  // Host networking: the services are on our loopback. Without this, testcontainers run
  // inside a container looks for the engine's default bridge, which our engine has not.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
  return import("testcontainers");
}

/** Testcontainers' own runtime discovery (DOCKER_HOST, contexts, ...) is the check, bounded. */
export async function dockerEngineAnswers(timeoutMs = 5_000): Promise<boolean> {
  const { getContainerRuntimeClient } = await testcontainers();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([getContainerRuntimeClient().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The `im-server.test.flavour` label of a local image (e.g. "ferretdb"), or undefined. */
export async function imageFlavour(image: string): Promise<string | undefined> {
  const { getContainerRuntimeClient } = await testcontainers();
  const client = await getContainerRuntimeClient();
  try {
    const info = await client.container.dockerode.getImage(image).inspect();
    return info.Config?.Labels?.[FLAVOUR_LABEL];
  } catch {
    // Not here yet: an official image the engine pulls on start.
    return undefined;
  }
}

/**
 * Removes the containers of test processes of this host that no longer run (a run killed
 * before it could clean up). Containers of live processes, or of other hosts sharing the
 * engine, are left alone. Returns how many were removed.
 */
export async function removeStaleContainers(): Promise<number> {
  const { getContainerRuntimeClient } = await testcontainers();
  const client = await getContainerRuntimeClient();
  const dockerode = client.container.dockerode;
  const containers = await dockerode.listContainers({
    all: true,
    filters: { label: [OWNER_LABEL] },
  });
  let removed = 0;
  for (const info of containers) {
    const [host, pid] = (info.Labels[OWNER_LABEL] ?? "").split("/");
    if (host !== hostname() || isAlive(Number(pid))) continue;
    await dockerode
      .getContainer(info.Id)
      .remove({ force: true, v: true })
      .then(
        () => removed++,
        () => {},
      );
  }
  return removed;
}

/** Ids of the containers (running or not) labelled as started by process `pid` of this host. */
export async function containersOwnedBy(pid: number): Promise<string[]> {
  const { getContainerRuntimeClient } = await testcontainers();
  const client = await getContainerRuntimeClient();
  const containers = await client.container.dockerode.listContainers({
    all: true,
    filters: { label: [`${OWNER_LABEL}=${ownerValue(pid)}`] },
  });
  return containers.map((c) => c.Id);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `image` with the given command line in a container on the host network, the data dir
 * mounted at the same path. The container is removed once it has exited, so a restart is a
 * new container on the same port and data.
 */
export function containerRunner(image: string): Runner {
  return {
    what: `container of ${image}`,
    launch: async (args, onOutput, dataDir): Promise<Launched> => {
      const { GenericContainer, Wait, getContainerRuntimeClient } = await testcontainers();
      const started = await new GenericContainer(image)
        .withNetworkMode("host")
        .withCommand(args)
        .withLabels({ [OWNER_LABEL]: ownerValue() })
        .withBindMounts([{ source: dataDir, target: dataDir }])
        .withLogConsumer((stream) => {
          stream.on("data", (chunk: Buffer | string) => onOutput(Buffer.from(chunk)));
        })
        // No published ports (host network): returns at once; the caller probes the service.
        .withWaitStrategy(Wait.forListeningPorts())
        .start();
      const id = started.getId();
      removeContainerOnExit(id);
      const container = (await getContainerRuntimeClient()).container.getById(id);
      let reason: string | undefined;
      const exited = container
        .wait()
        .then(
          (result: { StatusCode?: number }) => `exited (code ${result.StatusCode ?? "?"})`,
          (error: unknown) => `gone (${error instanceof Error ? error.message : String(error)})`,
        )
        .then(async (why) => {
          reason = why;
          await container.remove({ force: true, v: true }).catch(() => {});
          forgetContainer(id);
        });
      return {
        exited,
        exitReason: () => reason,
        kill: (signal) => {
          // Already gone is fine: the caller waits for `exited` either way.
          container.kill({ signal }).catch(() => {});
        },
      };
    },
  };
}
