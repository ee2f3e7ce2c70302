import { createAccounts } from "./accounts/accounts.js";
import { createAccountService } from "./accounts/service.js";
import { createAuthenticator } from "./auth/authenticator.js";
import { type Clock, systemClock } from "./common/clock.js";
import type { Config } from "./config/config.js";
import { AccountService } from "./gen/im/v1/account_pb.js";
import type { Logger } from "./log/logger.js";
import { type RunningServer, startServer } from "./server/server.js";
import { createMemoryStorage, openMongoStorage, type Storage } from "./storage/storage.js";

export interface App {
  port: number;
  storage: Storage;
  /** Graceful shutdown: server first, then the backends it used. */
  close(): Promise<void>;
}

/**
 * The composition root: config -> backends -> components -> server. Read it top
 * to bottom to see what runs. Fails fast if a configured backend is unreachable.
 */
export async function startApp(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<App> {
  logger.info(describeBackends(config), {
    storage: config.mongo ? "mongodb" : "memory",
    bus: config.nats ? "nats" : "in-process",
  });
  if (config.devSecretKey) {
    logger.warn(
      "APP_SECRET_KEY is not set: using the built-in development key; never expose this server",
    );
  }

  const storage = config.mongo
    ? await openMongoStorage(config.mongo.url, config.mongo.database)
    : createMemoryStorage();

  const accounts = createAccounts({
    store: storage.accounts,
    clock,
    batchMax: config.accountBatchMax,
  });
  const authenticate = createAuthenticator({
    appId: config.appId,
    secretKey: config.secretKey,
    adminUserIds: config.adminUserIds,
    maxSkewSec: config.userSigMaxSkewSec,
    accounts: storage.accounts,
    clock,
  });

  let server: RunningServer;
  try {
    server = await startServer({
      routes(router) {
        router.service(AccountService, createAccountService(accounts));
      },
      authenticate,
      logger,
      host: config.host,
      port: config.port,
      tls: config.tls,
      shutdownGraceMs: config.shutdownGraceMs,
      streamsShutdown: new AbortController(),
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
  logger.info("listening", { host: config.host, port: server.port, tls: config.tls !== undefined });

  return {
    port: server.port,
    storage,
    async close() {
      await server.shutdown();
      await storage.close();
    },
  };
}

function describeBackends(config: Config): string {
  if (config.mongo && config.nats) return "starting on MongoDB and NATS JetStream (durable)";
  if (!config.mongo && !config.nats) {
    return "starting on the embedded default: in-memory store and in-process bus (NOT durable: all data is lost on exit; set MONGO_URL and NATS_URL for production)";
  }
  return config.mongo
    ? "starting on MongoDB with the in-process bus (single node only: set NATS_URL to run several)"
    : "starting on the in-memory store (NOT durable) with NATS JetStream";
}
