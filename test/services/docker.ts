import type { StartedTestContainer } from "testcontainers";

/*
 * testcontainers is imported lazily: it is slow to load and only useful when an engine answers.
 * Its own runtime discovery (DOCKER_HOST, docker contexts, rootless sockets, Podman, ...) is
 * the check; we only bound how long it may take.
 */
export async function dockerEngineAnswers(timeoutMs = 5_000): Promise<boolean> {
  const { getContainerRuntimeClient } = await import("testcontainers");
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

export interface StartedServiceContainer {
  url: string;
  stop(): Promise<void>;
}

function started(container: StartedTestContainer, url: string): StartedServiceContainer {
  return {
    url,
    stop: async () => {
      await container.stop();
    },
  };
}

/** Real MongoDB 7 (standalone); the caller waits for ping. */
export async function startMongoContainer(): Promise<StartedServiceContainer> {
  const { GenericContainer, Wait } = await import("testcontainers");
  // testcontainers 12 waits for an image's healthcheck by default; the callers wait for
  // the service itself, so the port listening is enough (11's default).
  const container = await new GenericContainer("mongo:7")
    .withExposedPorts(27017)
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  return started(container, `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/`);
}

/** nats-server 2.10 with JetStream on; the caller waits for JetStream to answer. */
export async function startNatsContainer(): Promise<StartedServiceContainer> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const container = await new GenericContainer("nats:2.10")
    .withCommand(["-js"])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  return started(container, `nats://${container.getHost()}:${container.getMappedPort(4222)}`);
}
