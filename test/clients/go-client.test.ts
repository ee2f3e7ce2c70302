import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolBinary } from "../services/paths.js";
import { sigFor } from "../support/clients.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { ADMIN } from "../support/test-app.js";
import { bufBinary, repoRoot, requireBuilt, runTool } from "./run-tool.js";

// The Go client of examples/go, generated from proto/ exactly as docs/clients.md says
// (buf with the locally installed protoc-gen-go and protoc-gen-connect-go), runs the
// send -> live receive -> sync -> mark read scenario against a real server process.
let server: ServerProcess;
let workDir: string;
let program: string;

beforeAll(async () => {
  requireBuilt(toolBinary("protoc-gen-go"));
  requireBuilt(toolBinary("protoc-gen-connect-go"));
  const [started] = await Promise.all([
    startServerProcess({}),
    (async () => {
      await runTool(bufBinary, ["generate", "--template", "buf.gen.go.yaml"]);
      workDir = await mkdtemp(join(tmpdir(), "im-go-client-"));
      program = join(workDir, "imclient");
      await runTool("go", ["build", "-o", program, "."], {
        cwd: join(repoRoot, "examples", "go"),
        env: { CGO_ENABLED: "0", GOFLAGS: "-buildvcs=false" },
      });
    })(),
  ]);
  server = started;
}, 300_000); // a hang guard: a cold `go build` takes minutes on a loaded 2-core machine

afterAll(async () => {
  await server?.kill("SIGTERM");
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.each(["connect", "grpc"])("Go client over %s", (protocol) => {
  it("sends, receives live, syncs and marks read", async () => {
    const alice = `go_${protocol}_alice`;
    const bob = `go_${protocol}_bob`;
    const { stdout } = await runTool(program, [], {
      env: {
        IM_URL: server.baseUrl,
        IM_PROTOCOL: protocol,
        IM_ALICE: alice,
        IM_BOB: bob,
        IM_ADMIN_SIG: sigFor(ADMIN),
        IM_ALICE_SIG: sigFor(alice),
        IM_BOB_SIG: sigFor(bob),
      },
      timeoutMs: 90_000,
    });
    expect(stdout.trim().split("\n")).toEqual([
      `alice sent seq 1 in c2c:${alice}:${bob}`,
      "bob received seq 1: hello bob, from Go",
      "bob synced 1 message(s), last seq 1",
      "bob read up to seq 1; unread now 0",
    ]);
  });
});
