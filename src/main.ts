import { startApp } from "./app.js";
import { readConfig } from "./config/config.js";
import { ConfigError, flagsToEnv } from "./config/settings.js";
import { createLogger } from "./log/logger.js";

// Entry point: settings from the environment, overridden by --flags.
async function main(): Promise<void> {
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig({ ...process.env, ...flagsToEnv(process.argv.slice(2)) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel });
  const starting = startApp(config, logger).catch((err: unknown) => {
    logger.error("start-up failed", { err });
    process.exit(1);
  });

  // Handlers go in before start-up finishes: a signal that arrives right after
  // "listening" (or during start-up) still drains the server instead of killing it.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    starting
      .then((started) => started.close())
      .then(
        () => {
          logger.info("stopped");
          process.exit(0);
        },
        (err: unknown) => {
          logger.error("shutdown failed", { err });
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  const app = await starting;
  // The keyword list is also reloaded when its file changes; SIGHUP forces it.
  process.on("SIGHUP", () => void app.reloadKeywords());
  // A benchmark reads the store's command counts (with MONGO_MONITOR_COMMANDS)
  // and the bus's message counts here.
  const { commandCounts } = app.storage;
  process.on("SIGUSR2", () =>
    logger.info("store commands", { commands: commandCounts?.(), bus: app.bus.messageCounts() }),
  );
}

await main();
