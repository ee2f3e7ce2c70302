import { afterEach, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { startFerretDb, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { ADMIN } from "../support/test-app.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const CYCLES = 5;
/** Each node must serve storage calls again this soon after the store is back. */
const RECOVERY_MAX_MS = 10_000;

const healthOf = async (node: ServerProcess) =>
  (await clientAs(Health, node.baseUrl, undefined, "grpc").check({})).status;

/** A light steady load on one node: a send every ~50 ms, failures counted, never stopping the loop. */
function lightLoad(node: ServerProcess, from: string, to: string) {
  const client = clientAs(MessageService, node.baseUrl, from);
  let running = true;
  let ok = 0;
  let failed = 0;
  const done = (async () => {
    for (let i = 0; running; i++) {
      await client
        .sendMessage({
          toUserId: to,
          body: [text(`${from}-${i}`)],
          clientMessageId: `${from}-${i}`,
        })
        .then(
          () => ok++,
          () => failed++,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    counts: () => ({ ok, failed }),
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe("document store restarts", () => {
  it(`every node serves again within ${RECOVERY_MAX_MS / 1000} s of each of ${CYCLES} kill -9 restarts, and health follows`, async () => {
    const ferret = await startFerretDb();
    cleanups.push(() => ferret.dispose());
    const env = {
      MONGO_URL: ferret.url,
      MONGO_DATABASE: "im",
      NATS_URL: testNatsUrl(),
      NATS_NAMESPACE: uniqueName("storerestart"),
    };
    const nodes = [await startServerProcess(env), await startServerProcess(env)];
    for (const n of nodes) cleanups.push(() => n.kill());
    await clientAs(AccountService, nodes[0]?.baseUrl ?? "", ADMIN).importAccounts({
      accounts: [{ userId: "alice" }, { userId: "bob" }],
    });
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const loads = [lightLoad(a, "alice", "bob"), lightLoad(b, "bob", "alice")];
    cleanups.push(async () => {
      for (const l of loads) await l.stop();
    });

    const recoveries: number[][] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await ferret.stop("SIGKILL");
      // Health turns NOT_SERVING on every node while the store is gone.
      for (const node of nodes) {
        await eventually(
          async () => expect(await healthOf(node)).toBe(ServingStatus.NOT_SERVING),
          15_000,
          100,
        );
      }
      await ferret.restart();
      const back = Date.now();
      const times = await Promise.all(
        nodes.map(async (node) => {
          const accounts = clientAs(AccountService, node.baseUrl, ADMIN);
          await eventually(
            async () => {
              await accounts.checkAccounts({ userIds: ["alice"] });
              expect(await healthOf(node)).toBe(ServingStatus.SERVING);
            },
            RECOVERY_MAX_MS,
            100,
          );
          return Date.now() - back;
        }),
      );
      recoveries.push(times);
    }
    console.info(
      `store restarts: recovery ms per cycle [node A, node B]: ${JSON.stringify(recoveries)}; load ${JSON.stringify(loads.map((l) => l.counts()))}`,
    );
    for (const l of loads) await l.stop();
    for (const l of loads) expect(l.counts().ok).toBeGreaterThan(0);
    expect(recoveries.flat().every((ms) => ms < RECOVERY_MAX_MS)).toBe(true);
  }, 300_000);
});
