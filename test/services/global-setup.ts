import type { TestProject } from "vitest/node";
import { ensureLocalBinaries } from "./build-binaries.js";
import {
  dockerEngineAnswers,
  mongoImage,
  natsImage,
  removeStaleContainers,
  servicesMode,
} from "./docker.js";
import { type RunVia, startFerretDb, startNatsServer } from "./local-process.js";
import type { ServiceProcess } from "./managed-process.js";
import type { ServiceEndpoint } from "./provided-context.js";
import { pingMongo, pingNats, waitUntil } from "./readiness.js";

/*
 * Finds a MongoDB and a NATS (JetStream) for the whole run, in the order docs/architecture.md ("Tests") gives:
 * URLs from the environment, else containers when a Docker engine answers, else local
 * FerretDB + nats-server built by build.sh. IM_TEST_SERVICES=docker allows only containers
 * (and runs the tests' private servers in containers too), =local only processes (docker.ts).
 * It never throws: a service that cannot be had is provided as an error message, so exactly
 * the tests that need it fail, loudly, saying why.
 */

interface Service {
  key: "imTestMongo" | "imTestNats";
  name: string;
  envVar: "MONGO_URL" | "NATS_URL";
  example: string;
  image: string;
  local: string;
  probe(url: string): Promise<void>;
  start(via: RunVia): Promise<ServiceProcess>;
}

const services: Service[] = [
  {
    key: "imTestMongo",
    name: "MongoDB",
    envVar: "MONGO_URL",
    example: "mongodb://127.0.0.1:27017/",
    image: mongoImage(),
    local: "FerretDB",
    probe: (url) => pingMongo(url),
    start: (via) => startFerretDb({ via }),
  },
  {
    key: "imTestNats",
    name: "NATS with JetStream",
    envVar: "NATS_URL",
    example: "nats://127.0.0.1:4222",
    image: natsImage(),
    local: "nats-server",
    probe: (url) => pingNats(url),
    start: (via) => startNatsServer({ via }),
  },
];

type Teardown = () => Promise<void>;

export default async function setup(project: TestProject): Promise<Teardown> {
  const teardowns: Teardown[] = [];
  const found = new Map<Service, ServiceEndpoint>();
  const problems = new Map<Service, string[]>(services.map((s) => [s, []]));
  const missing = (): Service[] => services.filter((s) => !found.has(s));

  // Always, even with URLs given: fault tests start private local processes regardless.
  const buildError = await ensureLocalBinaries();

  for (const service of services) {
    const url = process.env[service.envVar];
    if (!url) continue;
    try {
      await waitUntil(() => service.probe(url), {
        what: `${service.envVar}=${redact(url)}`,
        timeoutMs: 15_000,
      });
      found.set(service, { url, source: "env" });
    } catch (error) {
      // The caller chose this URL: do not silently test against something else.
      found.set(service, {
        error: `${messageOf(error)}\nFix that server, or unset ${service.envVar} to let the tests start one.`,
      });
    }
  }

  const mode = servicesMode();
  // In local mode only an engine named explicitly is looked at, to sweep a killed run's containers.
  const engine = (mode !== "local" || process.env.DOCKER_HOST) && (await dockerEngineAnswers());
  if (engine) {
    const removed = await removeStaleContainers().catch((error: unknown) => {
      process.stderr.write(`[test services] removing stale containers: ${messageOf(error)}\n`);
      return 0;
    });
    if (removed > 0) {
      process.stderr.write(`[test services] removed ${removed} container(s) of killed runs\n`);
    }
  }

  if (missing().length > 0 && mode !== "local") {
    if (engine) {
      await Promise.all(
        missing().map(async (service) => {
          try {
            const container = await service.start("docker");
            teardowns.push(() => container.dispose());
            found.set(service, { url: container.url, source: "docker" });
          } catch (error) {
            problems.get(service)?.push(`Docker (${service.image}): ${messageOf(error)}`);
          }
        }),
      );
    } else {
      for (const service of missing()) problems.get(service)?.push("no Docker engine answered");
    }
  }

  if (missing().length > 0 && mode !== "docker") {
    await Promise.all(
      missing().map(async (service) => {
        if (buildError) {
          problems.get(service)?.push(`local ${service.local}: ${buildError}`);
          return;
        }
        try {
          const local = await service.start("local");
          teardowns.push(() => local.dispose());
          found.set(service, { url: local.url, source: "local" });
        } catch (error) {
          problems.get(service)?.push(`local ${service.local}: ${messageOf(error)}`);
        }
      }),
    );
  }

  for (const service of services) {
    const endpoint = found.get(service) ?? { error: unavailable(service, problems.get(service)) };
    project.provide(service.key, endpoint);
    const shown =
      "url" in endpoint ? `${redact(endpoint.url)} (${endpoint.source})` : "UNAVAILABLE";
    process.stderr.write(`[test services] ${service.name}: ${shown}\n`);
  }

  return async () => {
    for (const teardown of teardowns.reverse()) {
      await teardown().catch((error: unknown) => {
        process.stderr.write(`[test services] teardown: ${messageOf(error)}\n`);
      });
    }
  };
}

function unavailable(service: Service, problems: string[] = []): string {
  return [
    `No ${service.name} for tests. Tried:`,
    ...problems.map((p) => `  - ${p}`),
    "Provide one of:",
    `  - ${service.envVar}=${service.example} (any reachable server)`,
    `  - a running Docker engine (testcontainers starts ${service.image}; IM_TEST_SERVICES=${servicesMode()})`,
    `  - \`npm run test-services\` (needs Go) to build local ${service.local}, then rerun`,
  ].join("\n");
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/** URLs from the environment may carry credentials; keep them out of logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}
