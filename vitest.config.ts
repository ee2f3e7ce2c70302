import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "tools/**/*.test.ts"],
    globalSetup: ["test/services/global-setup.ts"],
    // Hang guards, not expectations: CI runs beside CPU burners on 2 cores.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores here: more workers only thrash the shared FerretDB and nats-server.
    maxWorkers: 2,
  },
});
