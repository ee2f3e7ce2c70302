import { Code, createClient, type ServiceImpl } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import type { Authenticate } from "../../src/auth/authenticator.js";
import { requireCaller } from "../../src/auth/caller.js";
import { readTransportLimits } from "../../src/config/transport-limits.js";
import {
  Health,
  HealthCheckResponse_ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import { startServer } from "../../src/server/server.js";
import { clientAs, failureOf } from "../support/clients.js";
import { deferred } from "../support/deferred.js";
import { selfSignedLocalhostCert } from "../support/self-signed-cert.js";

const acceptAnyone: Authenticate = async () => ({
  userId: "caller",
  isAdmin: false,
  sigExpiresAtMs: 0,
  sigIssuedAtMs: 0,
});

/**
 * An AccountService whose WhoAmI signals `entered` and then waits for `release`, so a
 * test holds a call in flight across shutdown without guessing how long that takes.
 */
const heldAccounts = (
  entered: () => void,
  release: Promise<void>,
): Partial<ServiceImpl<typeof AccountService>> => ({
  async whoAmI(_req, ctx) {
    entered();
    await release;
    return { userId: requireCaller(ctx).userId };
  },
});

const start = (
  tls?: { cert: Buffer; key: Buffer },
  accounts: Partial<ServiceImpl<typeof AccountService>> = {},
) =>
  startServer({
    routes: (router) => router.service(AccountService, accounts),
    authenticate: acceptAnyone,
    logger: silentLogger,
    host: "127.0.0.1",
    port: 0,
    tls,
    shutdownGraceMs: 3000,
    limits: readTransportLimits({}, 12 * 1024),
    streamsShutdown: new AbortController(),
  });

describe("graceful shutdown", () => {
  it("finishes in-flight unary calls, ends streams, then refuses new connections", async () => {
    const entered = deferred();
    const release = deferred();
    const server = await start(undefined, heldAccounts(entered.resolve, release.promise));
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const health = clientAs(Health, baseUrl, undefined, "grpc");
    const watch = health.watch({})[Symbol.asyncIterator]();
    // The watch is open once its first status has arrived, however slow the machine.
    const first = await watch.next();
    expect(first.done).toBe(false);
    expect(first.value?.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const statuses: HealthCheckResponse_ServingStatus[] = [];
    const watching = (async () => {
      for (let r = await watch.next(); !r.done; r = await watch.next())
        statuses.push(r.value.status);
    })();
    const inFlight = clientAs(AccountService, baseUrl, "alice", "grpc").whoAmI({});
    await entered.promise;

    // shutdown() stops accepting synchronously; the held call only finishes afterwards.
    const stopping = server.shutdown();
    release.resolve();
    await stopping;
    expect((await inFlight).userId).toBe("caller");
    await watching;
    expect(statuses.every((s) => s === HealthCheckResponse_ServingStatus.NOT_SERVING)).toBe(true);
    const f = await failureOf(clientAs(Health, baseUrl, undefined, "connect-json-h1").check({}));
    expect(f.code).toBe(Code.Unavailable);
  });
});

describe("health", () => {
  it("answers SERVING without authentication", async () => {
    const server = await start();
    const res = await clientAs(Health, `http://127.0.0.1:${server.port}`, undefined, "grpc").check(
      {},
    );
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await server.shutdown();
  });
});

describe("TLS", () => {
  it("serves gRPC and Connect over TLS on the same port", async () => {
    const { certPem: cert, keyPem: key } = selfSignedLocalhostCert();
    const server = await start({ cert: Buffer.from(cert), key: Buffer.from(key) });
    const baseUrl = `https://localhost:${server.port}`;
    const grpc = createClient(Health, createGrpcTransport({ baseUrl, nodeOptions: { ca: cert } }));
    expect((await grpc.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const { createConnectTransport } = await import("@connectrpc/connect-node");
    const h1 = createClient(
      Health,
      createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: cert } }),
    );
    expect((await h1.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await server.shutdown();
  });
});
