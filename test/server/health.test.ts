import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { startNatsServer } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { eventually } from "../support/eventually.js";
import { startTestApp } from "../support/test-app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe("grpc.health.v1", () => {
  it("knows the server and its services, and answers NOT_FOUND for any other", async () => {
    const app = await startTestApp();
    cleanups.push(() => app.close());
    const health = clientAs(Health, app.baseUrl, undefined, "grpc");
    for (const service of ["", "im.v1.MessageService", "grpc.health.v1.Health"]) {
      expect((await health.check({ service })).status, service).toBe(ServingStatus.SERVING);
    }
    const f = await failureOf(health.check({ service: "im.v1.NoSuchService" }));
    expect(f.code).toBe(Code.NotFound);
    const watch = health.watch({ service: "im.v1.NoSuchService" });
    for await (const r of watch) {
      expect(r.status).toBe(ServingStatus.SERVICE_UNKNOWN);
      break;
    }
  });

  it("is NOT_SERVING while NATS is unreachable and SERVING again once it is back; Watch follows", async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.dispose());
    const app = await startTestApp({ NATS_URL: nats.url });
    cleanups.push(() => app.close());
    const health = clientAs(Health, app.baseUrl, undefined, "grpc");
    const seen: ServingStatus[] = [];
    const abort = new AbortController();
    cleanups.push(async () => abort.abort());
    const watching = (async () => {
      for await (const r of health.watch({}, { signal: abort.signal })) seen.push(r.status);
    })().catch(() => {});

    await eventually(async () => expect(seen).toEqual([ServingStatus.SERVING]));
    await nats.stop("SIGKILL");
    await eventually(
      async () => expect((await health.check({})).status).toBe(ServingStatus.NOT_SERVING),
      10_000,
    );
    await nats.restart();
    await eventually(
      async () => expect((await health.check({})).status).toBe(ServingStatus.SERVING),
      15_000,
    );
    await eventually(async () =>
      expect(seen).toEqual([
        ServingStatus.SERVING,
        ServingStatus.NOT_SERVING,
        ServingStatus.SERVING,
      ]),
    );
    abort.abort();
    await watching;
  }, 60_000);
});
