import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { ownerValue } from "../services/docker.js";
import {
  freePort,
  type ServiceProcess,
  startFerretDb,
  startNatsServer,
  uniqueName,
} from "../services/index.js";
import { forgetContainer, removeContainerOnExit } from "../services/process-reaper.js";
import { clientAs, TEST_APP_ID, TEST_SECRET_KEY } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { ADMIN } from "../support/test-app.js";
import { describeWithDocker } from "./engine.js";
import { sendReceiveSync } from "./scenario.js";

/*
 * The Dockerfile and compose files, built and run. The image is built FROM IM_TEST_NODE_IMAGE
 * when set (CI: docker/local-base.sh, no registry here), else the Dockerfile's default
 * official Node image. Service containers are IM_TEST_MONGO_IMAGE / IM_TEST_NATS_IMAGE.
 */

const IMAGE = "im-server-test/server:local";

interface Run {
  code: number | null;
  out: string;
}

/** Runs a CLI (docker, docker-compose) to its end; `out` is stdout and stderr together. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d;
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, out }));
  });
}

async function ok(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await run(cmd, args, env);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.code}:\n${result.out}`);
  }
  return result.out;
}

async function servingAt(baseUrl: string): Promise<void> {
  const { status } = await clientAs(Health, baseUrl, undefined, "grpc").check({});
  if (status !== ServingStatus.SERVING) throw new Error(`health: ${ServingStatus[status]}`);
}

function healthOf(containerId: string): Promise<string> {
  return ok("docker", ["inspect", "-f", "{{.State.Health.Status}}", containerId]).then((s) =>
    s.trim(),
  );
}

const figures: Record<string, number | string> = {};

await describeWithDocker("the server's container image", () => {
  let services: ServiceProcess[] = [];

  beforeAll(async () => {
    const started = Date.now();
    const base = process.env.IM_TEST_NODE_IMAGE;
    // The engine's default bridge may not exist (ours has none): the build's npm ci uses the host's.
    await ok("docker", [
      "build",
      "--force-rm",
      "--network",
      "host",
      ...(base ? ["--build-arg", `NODE_IMAGE=${base}`] : []),
      "-t",
      IMAGE,
      ".",
    ]);
    figures.buildSeconds = Math.round((Date.now() - started) / 1000);
    figures.imageMB = Math.round(
      Number(await ok("docker", ["image", "inspect", "-f", "{{.Size}}", IMAGE])) / 1e6,
    );
    figures.base = base || "the Dockerfile's default";
    services = await Promise.all([
      startFerretDb({ via: "docker" }),
      startNatsServer({ via: "docker" }),
    ]);
  }, 900_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.dispose()));
    console.log(`server image figures: ${JSON.stringify(figures)}`);
  });

  it("serves send → receive → sync against the services' containers, turns healthy, and drains on SIGTERM as PID 1", async () => {
    const [mongo, nats] = services;
    const { GenericContainer, Wait } = await import("testcontainers");
    const port = await freePort();
    let logs = "";
    const started = Date.now();
    const container = await new GenericContainer(IMAGE)
      .withNetworkMode("host")
      .withEnvironment({
        HOST: "127.0.0.1",
        PORT: String(port),
        APP_ID: String(TEST_APP_ID),
        APP_SECRET_KEY: TEST_SECRET_KEY,
        ADMIN_USER_IDS: ADMIN,
        MONGO_URL: mongo?.url ?? "",
        MONGO_DATABASE: uniqueName("image"),
        NATS_URL: nats?.url ?? "",
        NATS_NAMESPACE: uniqueName("image"),
      })
      .withLabels({ "im-server.test.owner": ownerValue() })
      .withLogConsumer((stream) => {
        stream.on("data", (d: Buffer | string) => {
          logs += d.toString();
        });
      })
      .withWaitStrategy(Wait.forLogMessage(/"msg":"listening"/))
      .withStartupTimeout(120_000)
      .start();
    const id = container.getId();
    removeContainerOnExit(id);
    try {
      figures.startUpMs = Date.now() - started;
      const baseUrl = `http://127.0.0.1:${port}`;
      await eventually(() => servingAt(baseUrl), 60_000);
      figures.servingMs = Date.now() - started;
      await sendReceiveSync(baseUrl, "image");
      // The Dockerfile's HEALTHCHECK (its first run comes one interval after the start).
      await eventually(async () => expect(await healthOf(id)).toBe("healthy"), 90_000, 500);
      figures.healthyMs = Date.now() - started;
      expect(await ok("docker", ["inspect", "-f", "{{.Config.User}}", id])).toMatch(/^10001/);

      // SIGTERM reaches node as PID 1: the server's handler drains and exits 0.
      await ok("docker", ["kill", "--signal", "SIGTERM", id]);
      const code = await ok("docker", ["wait", id]);
      expect({ code: code.trim(), logs }).toMatchObject({ code: "0" });
      expect(logs).toMatch(/"msg":"shutting down".*"signal":"SIGTERM"/);
      expect(logs).toMatch(/"msg":"stopped"/);
    } finally {
      await container.stop({ remove: true, removeVolumes: true }).catch(() => {});
      forgetContainer(id);
    }
  });

  it("runs from compose.yaml with the local override on the host's network, same scenario, and `down -v` leaves nothing", async () => {
    const project = `imtest${process.pid}${Date.now().toString(36)}`;
    const [port, mongoPort, natsPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      IM_SERVER_IMAGE: IMAGE,
      IM_MONGO_IMAGE: process.env.IM_TEST_MONGO_IMAGE ?? "im-server-test/ferretdb:local",
      IM_NATS_IMAGE: process.env.IM_TEST_NATS_IMAGE ?? "im-server-test/nats-server:local",
      // Every service on the host's network, each on its own loopback port
      // (test/docker/compose.host-network.yaml): no network of the project's own.
      IM_PORT: String(port),
      IM_MONGO_PORT: String(mongoPort),
      IM_NATS_PORT: String(natsPort),
      IM_TEST_OWNER: ownerValue(),
      APP_ID: String(TEST_APP_ID),
      APP_SECRET_KEY: TEST_SECRET_KEY,
      ADMIN_USER_IDS: ADMIN,
    };
    const compose = (...args: string[]) =>
      ok(
        "docker-compose",
        [
          "-p",
          project,
          "-f",
          "compose.yaml",
          "-f",
          "compose.local.yaml",
          "-f",
          "test/docker/compose.host-network.yaml",
          ...args,
        ],
        env,
      );
    // The project's networks only: others on the machine (other projects, a parallel run) are not ours to judge.
    const networks = async () =>
      (await ok("docker", ["network", "ls", "-q", "--filter", `name=${project}`])).trim();
    const leftovers = async () => ({
      containers: (
        await ok("docker", ["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`])
      ).trim(),
      volumes: (await ok("docker", ["volume", "ls", "-q", "--filter", `name=${project}`])).trim(),
      networks: await networks(),
    });
    try {
      const started = Date.now();
      await compose("up", "-d", "--no-build");
      const baseUrl = `http://127.0.0.1:${port}`;
      await eventually(() => servingAt(baseUrl), 120_000, 200);
      figures.composeServingMs = Date.now() - started;
      await sendReceiveSync(baseUrl, "compose");
      const serverId = (await compose("ps", "-q", "server")).trim();
      await eventually(async () => expect(await healthOf(serverId)).toBe("healthy"), 90_000, 500);
      // During the run: every container on the host's network, and no network added.
      const ids = (await compose("ps", "-q")).trim().split("\n");
      expect(ids).toHaveLength(3);
      const modes = await ok("docker", ["inspect", "-f", "{{.HostConfig.NetworkMode}}", ...ids]);
      expect(modes.trim().split("\n")).toEqual(["host", "host", "host"]);
      expect(await networks()).toBe("");
      // Named volumes hold the data.
      expect((await leftovers()).volumes.split("\n")).toHaveLength(2);
    } finally {
      await compose("down", "-v", "--timeout", "30");
    }
    expect(await leftovers()).toEqual({ containers: "", volumes: "", networks: "" });
  });
});
