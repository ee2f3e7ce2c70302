import { loadavg } from "node:os";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startApp } from "../src/app.js";
import { generateUserSig } from "../src/auth/usersig.js";
import { readConfig } from "../src/config/config.js";
import { AccountService } from "../src/gen/im/v1/account_pb.js";
import { GroupService, GroupType } from "../src/gen/im/v1/group_pb.js";
import { createLogger } from "../src/log/logger.js";
import { createApnsSender } from "../src/push/apns-sender.js";
import { createLimiter } from "../src/push/limiter.js";
import { startFakeApns } from "../test/support/fake-apns.js";
import { fakeProvidersEnv } from "../test/support/push.js";
import { GROUP_BENCH_SERVER_ENV, SETUP_BATCH, userIdsOf } from "./group-setup.js";
import { createCpuMeter } from "./proc-stats.js";
import { type Stack, startStack } from "./stack.js";

/**
 * `npm run -s bench -- push [--members N] [--messages M] [--stack]`: one Community group
 * of N members (default 10,000), half of them with an APNs registration and
 * no live stream (the PushOnline half); the owner sends M messages (default
 * 5) and every push reaches a local fake APNs over HTTP/2 + TLS with JWT
 * checks. Reports pushes/s from the first send to the last push received and
 * the send→push-received latency (p50, p99). The store and bus are the
 * embedded ones unless MONGO_URL / NATS_URL are set in the environment;
 * `--stack` starts a fresh FerretDB and nats-server for the run and reports
 * the store commands per push (by command and collection) and CPU use.
 */
export async function runPushBench(args: readonly string[]): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(args[i + 1]);
  };
  const members = arg("members", 10_000);
  const messages = arg("messages", 5);
  const log = (line: string) => process.stderr.write(`bench push: ${line}\n`);
  const stack: Stack | undefined = args.includes("--stack") ? await startStack() : undefined;
  try {
    await runPushScenario(members, messages, stack, log);
  } finally {
    await stack?.dispose();
  }
}

async function runPushScenario(
  members: number,
  messages: number,
  stack: Stack | undefined,
  log: (line: string) => void,
): Promise<void> {
  const apns = await startFakeApns({ topics: ["com.bench.app"] });
  const appId = 1400000999;
  const secret = "bench-secret";
  const env: Record<string, string | undefined> = {
    HOST: "127.0.0.1",
    PORT: "0",
    APP_ID: String(appId),
    APP_SECRET_KEY: secret,
    ADMIN_USER_IDS: "admin",
    LOG_LEVEL: "warn",
    MONGO_URL: stack?.mongoUrl ?? process.env.MONGO_URL,
    NATS_URL: stack?.natsUrl ?? process.env.NATS_URL,
    MONGO_MONITOR_COMMANDS: "true",
    ...GROUP_BENCH_SERVER_ENV,
    ...fakeProvidersEnv({ apns }),
  };
  const app = await startApp(readConfig(env), createLogger({ level: "warn" }));
  try {
    const transport = createConnectTransport({
      baseUrl: `http://127.0.0.1:${app.port}`,
      httpVersion: "2",
    });
    const headers = (u: string) => ({
      authorization: `Bearer ${generateUserSig({ appId, secretKey: secret, userId: u, expireSec: 3600 })}`,
    });
    const owner = "owner";
    const ids = userIdsOf("m", members);
    const accounts = createClient(AccountService, transport);
    for (let i = 0; i < ids.length; i += SETUP_BATCH) {
      await accounts.importAccounts(
        { accounts: ids.slice(i, i + SETUP_BATCH).map((userId) => ({ userId })) },
        { headers: headers("admin") },
      );
    }
    await accounts.importAccounts(
      { accounts: [{ userId: owner, nickname: "Owner" }] },
      { headers: headers("admin") },
    );
    const groups = createClient(GroupService, transport);
    const groupId = "bench_push";
    await groups.createGroup(
      { type: GroupType.COMMUNITY, name: "Bench", groupId, ownerUserId: owner },
      { headers: headers("admin") },
    );
    for (let i = 0; i < ids.length; i += SETUP_BATCH) {
      await groups.addGroupMembers(
        { groupId, userIds: ids.slice(i, i + SETUP_BATCH) },
        { headers: headers("admin"), timeoutMs: 60_000 },
      );
    }
    const pushOnline = ids.filter((_, i) => i % 2 === 0);
    // 20 at a time: registration is not what is measured, and one by one takes minutes on FerretDB.
    for (let i = 0; i < pushOnline.length; i += 20) {
      await Promise.all(
        pushOnline.slice(i, i + 20).map((u, j) =>
          app.storage.pushTokens.upsertPushRegistration(
            u,
            "phone",
            {
              channel: "apns",
              token: (i + j).toString(16).padStart(64, "0"),
              environment: "production",
              bundleId: "com.bench.app",
            },
            Date.now(),
          ),
        ),
      );
    }
    log(`${members} members, ${pushOnline.length} with a push registration; sending ${messages}`);
    const rawPerSec = await rawApnsBaseline(env);
    apns.delivered.length = 0;
    const commandsBefore = app.storage.commandCounts?.();
    const cpu = createCpuMeter({
      server: process.pid,
      ...(stack === undefined ? {} : { ferretdb: stack.pids.ferretdb, nats: stack.pids.nats }),
    });
    cpu.mark();

    const sentAt = new Map<string, number>();
    const start = Date.now();
    for (let m = 0; m < messages; m++) {
      const r = await groups.sendGroupMessage(
        { groupId, body: [{ element: { case: "text", value: { text: `bench ${m}` } } }] },
        { headers: headers(owner) },
      );
      sentAt.set(r.messageKey, Date.now());
    }
    const expected = pushOnline.length * messages;
    const deadline = Date.now() + 600_000;
    while (apns.delivered.length < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The last push received, not when this loop noticed it (no spread: a large run
    // has more pushes than a call takes arguments).
    const end = apns.delivered.reduce((last, d) => Math.max(last, d.at), start + 1);
    const cpuPercent = cpu.read();
    const commandsAfter = app.storage.commandCounts?.();
    const received = apns.delivered.length;
    const latencies = apns.delivered
      .map((d) => d.at - (sentAt.get(String(d.headers["apns-collapse-id"])) ?? start))
      .sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    const report = {
      scenario: "push",
      store: env.MONGO_URL === undefined ? "memory" : "mongodb",
      bus: env.NATS_URL === undefined ? "in-process" : "nats",
      members,
      registered: pushOnline.length,
      messages,
      expected,
      received,
      pushesPerSec: Math.round((apns.delivered.length / (end - start)) * 1000),
      rawApnsPerSec: Math.round(rawPerSec),
      pushesPerRaw: Number(
        (((apns.delivered.length / (end - start)) * 1000) / rawPerSec).toFixed(2),
      ),
      sendToPushMs: { p50: pct(0.5), p99: pct(0.99) },
      cpuPercent,
      ...(commandsAfter === undefined || commandsBefore === undefined
        ? {}
        : {
            storeCommandsPerPush: Number(
              ((commandsAfter.total - commandsBefore.total) / Math.max(1, received)).toFixed(3),
            ),
            storeCommands: delta(commandsBefore.byTarget, commandsAfter.byTarget),
            storeCommandMs: delta(commandsBefore.msByTarget, commandsAfter.msByTarget),
          }),
      loadAvg1: Number(loadavg()[0]?.toFixed(2)),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    log(
      `${report.received}/${expected} pushes, ${report.pushesPerSec}/s (raw sender→fake ${report.rawApnsPerSec}/s), send→push p50 ${report.sendToPushMs.p50} ms, p99 ${report.sendToPushMs.p99} ms`,
    );
  } finally {
    await app.close();
    await apns.close();
  }
}

/** What grew from `before` to `after`, by key, largest first. */
function delta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]): [string, number] => [k, Math.round(v - (before[k] ?? 0))])
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]),
  );
}

/**
 * The raw stack in the same run: the APNs client alone sending 1,000
 * notifications at the same concurrency straight to the fake, so the pipeline's
 * rate reads as a ratio of what this machine does at that moment.
 */
async function rawApnsBaseline(env: Record<string, string | undefined>): Promise<number> {
  const config = readConfig(env).push;
  if (config.apns === undefined) throw new Error("bench: APNs settings missing");
  const sender = createApnsSender(config.apns, Date.now);
  const limiter = createLimiter(config.concurrency);
  const request = {
    token: "f".repeat(64),
    environment: "production" as const,
    topic: "com.bench.app",
    payload: JSON.stringify({ aps: { alert: { body: "Owner (Bench): bench 0" }, badge: 1 } }),
    collapseId: "raw",
  };
  await sender.send(request);
  const start = performance.now();
  await Promise.all(Array.from({ length: 1000 }, () => limiter.run(() => sender.send(request))));
  const perSec = 1000 / ((performance.now() - start) / 1000);
  await sender.close();
  return perSec;
}
