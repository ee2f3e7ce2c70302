import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { testNatsUrl, uniqueName } from "../services/index.js";
import { freePort } from "../services/local-process.js";

/** Runs the server from source (tsx src/main.ts, as `npm run dev`) and collects its exit and output. */
function runMain(args: string[], env: Record<string, string>, killAfterMs?: number) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      out += d;
      if (killAfterMs !== undefined && out.includes('"listening"')) {
        setTimeout(() => child.kill("SIGTERM"), killAfterMs);
      }
    });
    child.on("exit", (code) => resolve({ code, out }));
  });
}

/** A hang guard: under load the TypeScript loader alone takes many seconds to start. */
const PROCESS_TEST_MS = 90_000;

describe("server process", () => {
  it(
    "exits 2 with the bad setting named",
    async () => {
      const { code, out } = await runMain(["--port=http"], {});
      expect(code).toBe(2);
      expect(out).toContain("invalid configuration: PORT: expected an integer");
    },
    PROCESS_TEST_MS,
  );

  it(
    "starts on the embedded default, says so first, and stops cleanly on SIGTERM",
    async () => {
      // Port 0: the OS picks one (a port picked beforehand may be taken by a parallel test).
      const { code, out } = await runMain(["--port=0"], {}, 50);
      expect(code).toBe(0);
      const first = JSON.parse(out.split("\n")[0] ?? "{}");
      expect(first.msg).toMatch(/in-memory store and in-process bus \(NOT durable/);
      expect(out).toContain('"msg":"stopped"');
    },
    PROCESS_TEST_MS,
  );

  it(
    "fails fast with a clear message when MongoDB is unreachable",
    async () => {
      const dead = await freePort();
      // Exiting at all is the point (no retrying forever); the driver gives up after its 3 s
      // server selection timeout, and the test's own timeout guards a hang. No elapsed-time
      // bound: under load the TypeScript loader alone can take longer than that.
      const { code, out } = await runMain([], {
        PORT: "0",
        MONGO_URL: `mongodb://127.0.0.1:${dead}`,
      });
      expect(code).toBe(1);
      expect(out).toContain(`cannot reach MongoDB at mongodb://127.0.0.1:${dead}`);
    },
    PROCESS_TEST_MS,
  );

  it(
    "exits 1 naming the setting when KV buckets want more replicas than one nats-server holds",
    async () => {
      // Killed once listening: a server that started anyway fails the test, not hangs it.
      const { code, out } = await runMain(
        [],
        {
          PORT: "0",
          NATS_URL: testNatsUrl(),
          NATS_NAMESPACE: uniqueName("kv-r3"),
          NATS_STREAM_REPLICAS_KV: "3",
        },
        50,
      );
      expect(out).toContain('"msg":"start-up failed"');
      expect(out).toMatch(/wants 3 replicas \(NATS_STREAM_REPLICAS_KV or NATS_STREAM_REPLICAS\)/);
      expect(code).toBe(1);
    },
    PROCESS_TEST_MS,
  );

  it(
    "exits 1 naming the cause when its port is taken after the bus consumers started",
    async () => {
      // Start-up fails at the last step; undoing the earlier ones (a NATS consumer still
      // starting) must not hang the process.
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
      const address = taken.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      try {
        const { code, out } = await runMain([], {
          HOST: "127.0.0.1",
          PORT: String(port),
          NATS_URL: testNatsUrl(),
          NATS_NAMESPACE: uniqueName("port-taken"),
        });
        expect(code).toBe(1);
        expect(out).toContain('"msg":"start-up failed"');
        expect(out).toContain("EADDRINUSE");
      } finally {
        taken.close();
      }
    },
    PROCESS_TEST_MS,
  );
});
