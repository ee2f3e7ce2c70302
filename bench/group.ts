import { randomBytes } from "node:crypto";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GroupType } from "../src/gen/im/v1/group_pb.js";
import { freePort } from "../test/services/local-process.js";
import { importAccounts } from "./accounts.js";
import type { PhaseContext } from "./c2c-phase.js";
import { authHeader, createBenchApp, createTransportPool } from "./clients.js";
import { runDrop } from "./group-drop.js";
import { type GroupOptions, rateFor } from "./group-options.js";
import { type GroupPhaseContext, runAtRate, runPaced, settle } from "./group-phase.js";
import { type RawFramesRun, runRawFrames } from "./group-raw-frames.js";
import { openGroupReceivers } from "./group-receivers.js";
import { type GroupReport, type GroupRunResult, reportGroup } from "./group-report.js";
import { createGroupSender } from "./group-sender.js";
import {
  type BenchGroup,
  createBenchGroup,
  GROUP_BENCH_SERVER_ENV,
  SETUP_BATCH,
  typeForSize,
  userIdsOf,
} from "./group-setup.js";
import type { GroupTracker } from "./group-tracker.js";
import { runWork } from "./group-work.js";
import { readPeakRssKb, sampleRss } from "./proc-stats.js";
import { measureRawBaseline } from "./raw-baseline.js";
import { startServerProcess } from "./server-process.js";
import { startStack } from "./stack.js";

const SENDER = "g_sender";

/**
 * The group benchmark (issue 5): fresh FerretDB + nats-server and their raw
 * rates, then one server process with every online member's live stream open
 * over many HTTP/2 connections, and one sender. Phases, in order: per
 * all-online group an unloaded (paced) probe and a fixed-rate load; the Work
 * group with half its members offline, who then sync; twice the frequency limit.
 */
export async function runGroup(
  options: GroupOptions,
  hooks: Pick<PhaseContext, "log" | "onAbort">,
): Promise<GroupReport> {
  const { log } = hooks;
  log("starting FerretDB and nats-server (fresh data dirs)");
  const stack = await startStack();
  const forgetStack = hooks.onAbort(() => stack.dispose());
  try {
    log(`raw stack baseline: ${options.baselineSec} s each`);
    const raw = await measureRawBaseline({
      natsUrl: stack.natsUrl,
      mongoUrl: stack.mongoUrl,
      durationMs: options.baselineSec * 1000,
      concurrency: 64,
    });
    const app = createBenchApp();
    const tag = randomBytes(3).toString("hex");
    log("starting server");
    const server = await startServerProcess({
      app,
      port: await freePort(),
      mongo:
        options.store === "memory"
          ? undefined
          : { url: stack.mongoUrl, database: `bench_group_${tag}` },
      natsUrl: stack.natsUrl,
      namespace: `bench_group_${tag}`,
      cpuProfDir: options.cpuProfDir,
      env: { ...GROUP_BENCH_SERVER_ENV, ...options.serverEnv },
    });
    const forgetServer = hooks.onAbort(() => server.stop());
    try {
      const rss = sampleRss(server.pid);
      const result = await runAgainst(options, {
        log,
        baseUrl: server.baseUrl,
        app,
        pids: {
          server: server.pid,
          ferretdb: stack.pids.ferretdb,
          nats: stack.pids.nats,
          bench: process.pid,
        },
      });
      const peakKb = readPeakRssKb(server.pid);
      const rawFrames: RawFramesRun[] = [];
      if (options.rawFrames) {
        for (const g of result.groups) {
          rawFrames.push(await runRawFrames(options, g.group, { rate: g.rate, log }));
          const x = rawFrames.at(-1)?.loaded.result;
          log(
            `[${g.group.memberIds.length}] raw frames: ${Math.round(x?.deliveriesPerSec ?? 0)} deliveries/s`,
          );
        }
      }
      return reportGroup(options, raw, {
        ...result,
        rawFrames,
        serverRssMaxMb: rss.stop().maxKb / 1024,
        serverRssPeakMb: peakKb === undefined ? undefined : peakKb / 1024,
      });
    } finally {
      log("stopping server");
      await server.stop();
      forgetServer();
    }
  } finally {
    log("stopping FerretDB and nats-server");
    await stack.dispose();
    forgetStack();
  }
}

async function runAgainst(
  options: GroupOptions,
  env: {
    log: (line: string) => void;
    baseUrl: string;
    app: ReturnType<typeof createBenchApp>;
    pids: Record<string, number | undefined>;
  },
): Promise<Omit<GroupRunResult, "serverRssMaxMb" | "serverRssPeakMb" | "rawFrames">> {
  const { log, app } = env;
  const setupStarted = performance.now();
  const bigMembers = options.members.map((size, k) => userIdsOf(`g${k}`, size));
  const workMembers = userIdsOf("gw", options.workMembers);
  // Alternate members online, so the offline half is spread over the member pages.
  const workOnline = workMembers.filter((_, i) => i % 2 === 0);
  const workOffline = workMembers.filter((_, i) => i % 2 === 1);
  const dropMembers = options.dropSec > 0 ? userIdsOf("gd", options.dropMembers) : [];
  const everyone = [SENDER, ...bigMembers.flat(), ...workMembers, ...dropMembers];
  const headers = new Map(everyone.map((u) => [u, authHeader(app, u)]));
  const headersOf = (userId: string) => headers.get(userId) ?? {};
  const adminHeaders = authHeader(app, app.adminUserId);
  // Set-up and the sender each on a connection of their own, apart from the streams.
  const adminTransport = createGrpcTransport({ baseUrl: env.baseUrl });
  const senderTransport = createGrpcTransport({ baseUrl: env.baseUrl });
  const streamTransports = createTransportPool(env.baseUrl, options.connections, "grpc", {
    gzipRequests: options.subscribe === "connect",
  });

  log(`importing ${everyone.length} accounts`);
  await importAccounts(adminTransport, adminHeaders, everyone, SETUP_BATCH);

  // Streams open before the groups fill: a stream's first open reads the user's
  // memberships (to follow its groups), which FerretDB answers with a scan of
  // every member row; opened after, 11,000 streams would take most of an hour
  // of set-up. Membership changes need no reconnect, so what is measured is the same.
  const online = [...bigMembers.flat(), ...workOnline, ...dropMembers];
  log(`opening ${online.length} live streams over ${options.connections} HTTP/2 connections`);
  let current: GroupTracker | undefined;
  const streamsStarted = performance.now();
  const receivers = await openGroupReceivers(options, {
    baseUrl: env.baseUrl,
    userIds: online,
    headersOf,
    tracker: { delivered: (id, at) => current?.delivered(id, at) },
    transports: () => streamTransports,
  });
  const streamsOpenSec = (performance.now() - streamsStarted) / 1000;

  const create = (groupId: string, type: GroupType, memberIds: string[]) => {
    log(`creating ${groupId} (${memberIds.length} members)`);
    return createBenchGroup({
      transport: adminTransport,
      adminHeaders,
      groupId,
      type,
      ownerId: SENDER,
      memberIds,
    });
  };
  try {
    const bigGroups: BenchGroup[] = [];
    for (const [k, ids] of bigMembers.entries()) {
      bigGroups.push(await create(`bench-g${k}-${ids.length}`, typeForSize(ids.length), ids));
    }
    const work =
      workMembers.length > 0 ? await create("bench-work", GroupType.WORK, workMembers) : undefined;
    const drop =
      dropMembers.length > 0
        ? await create("bench-drop", GroupType.PUBLIC, dropMembers)
        : undefined;
    const setupSec = (performance.now() - setupStarted) / 1000;

    const ctx: GroupPhaseContext = {
      sender: createGroupSender({
        transport: senderTransport,
        headers: headersOf(SENDER),
        tracker: () => {
          if (current === undefined) throw new Error("no phase is running");
          return current;
        },
      }),
      track: (tracker) => {
        current = tracker;
      },
      pids: { ...env.pids, receiver: receivers.pid },
      serverPid: env.pids.server ?? 0,
      log,
    };

    // A phase that fails (e.g. a read timing out on an overloaded store) is reported, and
    // the run goes on: the other phases' figures are still worth having.
    const errors: string[] = [];
    const attempt = async <T>(phase: string, run: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await run();
      } catch (err) {
        const message = `${phase}: ${err instanceof Error ? err.message : String(err)}`;
        errors.push(message);
        log(`phase failed: ${message}`);
        return undefined;
      }
    };
    const groups: GroupRunResult["groups"] = [];
    for (const group of bigGroups) {
      const size = group.memberIds.length;
      log(`[${size}] paced: ${options.pacedMessages} messages, each after full delivery`);
      await settleLogged(ctx);
      const paced = await runPaced(ctx, group, {
        label: `p${size}`,
        messages: options.pacedMessages,
        expected: size,
      });
      const rate = rateFor(options, size);
      log(
        `[${size}] ${rate} msg/s (${rate * size} deliveries/s offered): ${options.warmupSec} s warm-up + ${options.durationSec} s`,
      );
      await settleLogged(ctx);
      const loaded = await runAtRate(ctx, group, {
        label: `r${size}`,
        rate,
        warmupSec: options.warmupSec,
        durationSec: options.durationSec,
        expected: size,
        window: options.window,
      });
      groups.push({ group, paced, rate, loaded });
      // Figures as they come, so an aborted run still leaves them in the log.
      log(
        `[${size}] ${Math.round(loaded.result.deliveriesPerSec)} deliveries/s; send->last p50 ${Math.round(loaded.result.sendToLastMs.p50)} / p99 ${Math.round(loaded.result.sendToLastMs.p99)} ms (unloaded p50 ${Math.round(paced.result.sendToLastMs.p50)} / p99 ${Math.round(paced.result.sendToLastMs.p99)} ms)`,
      );
    }

    let workResult: GroupRunResult["work"];
    if (work !== undefined) {
      log(
        `[work] ${options.workRate} msg/s to ${workOnline.length} online of ${workMembers.length}`,
      );
      await settleLogged(ctx);
      workResult = await attempt("work", () =>
        runWork(ctx, work, {
          online: workOnline,
          offline: workOffline,
          rate: options.workRate,
          warmupSec: options.warmupSec,
          durationSec: options.durationSec,
          window: options.window,
          transports: streamTransports,
          headersOf,
        }),
      );
    }

    let dropResult: GroupRunResult["drop"];
    if (drop !== undefined) {
      log(`[drop] 80 msg/s for ${options.dropSec} s, priorities High/Normal/Low in turn`);
      await settleLogged(ctx);
      dropResult = await attempt("drop", () =>
        runDrop(ctx, drop, {
          seconds: options.dropSec,
          expected: dropMembers.length,
          transport: senderTransport,
          senderHeaders: headersOf(SENDER),
        }),
      );
    }
    const streamFailures = receivers.failures();
    return {
      accounts: everyone.length,
      streams: online.length,
      connections: options.connections,
      setupSec,
      streamsOpenSec,
      groups,
      work: workResult,
      drop: dropResult,
      streamFailures: streamFailures.count,
      firstStreamFailure: streamFailures.first,
      errors,
    };
  } finally {
    await receivers.close();
  }
}

/** Lets the previous phase's leftovers finish so they are not measured in the next. */
async function settleLogged(ctx: GroupPhaseContext): Promise<void> {
  const waited = await settle(ctx);
  if (waited > 2) ctx.log(`waited ${waited.toFixed(1)} s for the server and store to go idle`);
}
