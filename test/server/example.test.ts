import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TEST_APP_ID, TEST_SECRET_KEY } from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// The README's runnable example must keep working against a real server.
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

it("runs examples/send-and-receive.ts end to end", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "examples/send-and-receive.ts"],
    {
      env: {
        PATH: process.env.PATH ?? "",
        IM_URL: app.baseUrl,
        APP_ID: String(TEST_APP_ID),
        APP_SECRET_KEY: TEST_SECRET_KEY,
        ADMIN_USER_IDS: ADMIN,
      },
      timeout: 30_000,
    },
  );
  expect(stdout).toContain("alice sent seq 1 in c2c:alice:bob");
  expect(stdout).toContain("bob received seq 1: hello bob");
  expect(stdout).toContain("bob read up to seq 1; unread now 0");
});
