import { type App, startApp } from "../../src/app.js";
import type { Clock } from "../../src/common/clock.js";
import { type Config, readConfig } from "../../src/config/config.js";
import { type Logger, silentLogger } from "../../src/log/logger.js";
import { TEST_APP_ID, TEST_SECRET_KEY } from "./clients.js";

export const ADMIN = "admin_test";

/** Per-user rate limits no test reaches by accident. */
export const UNREACHED_RATE_LIMITS = {
  RATE_LIMIT_SENDS: "1000000",
  RATE_LIMIT_HISTORY: "1000000",
  RATE_LIMIT_SESSIONS: "1000000",
  RATE_LIMIT_TYPING: "1000000",
};

/** Config for an in-test server on a free port; `env` adds or overrides settings. */
export function testConfig(env: Record<string, string> = {}): Config {
  return readConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    APP_ID: String(TEST_APP_ID),
    APP_SECRET_KEY: TEST_SECRET_KEY,
    ADMIN_USER_IDS: ADMIN,
    SHUTDOWN_GRACE_MS: "2000",
    // Counted (the path runs) but out of reach: tests send faster than people do.
    // test/rate-limits sets real limits.
    ...UNREACHED_RATE_LIMITS,
    // Many apps share a test process: one idle release each would pause it for
    // all of them. Server processes (test/faults, test/server) keep the default.
    YOUNG_GENERATION_CHECK_MS: "0",
    ...env,
  });
}

export interface TestApp extends App {
  baseUrl: string;
}

export async function startTestApp(
  env: Record<string, string> = {},
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<TestApp> {
  const app = await startApp(testConfig(env), options.logger ?? silentLogger, options.clock);
  return { ...app, baseUrl: `http://127.0.0.1:${app.port}` };
}
