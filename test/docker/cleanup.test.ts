import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { expect, it } from "vitest";
import {
  containersOwnedBy,
  natsImage,
  OWNER_LABEL,
  ownerValue,
  removeStaleContainers,
} from "../services/docker.js";
import { freePort, startNatsServer } from "../services/index.js";
import { eventually } from "../support/eventually.js";
import { describeWithDocker } from "./engine.js";

// Testcontainers' reaper (Ryuk) is off: these prove our own cleanup leaves nothing behind.

/** A pid that no longer runs: a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("exit", resolve));
  if (child.pid === undefined) throw new Error("no pid");
  return child.pid;
}

await describeWithDocker("container cleanup without Ryuk", () => {
  it("removes the containers and data of a test process killed -9", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/docker/fixtures/hold-nats-container.ts"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d;
    });
    const pid = child.pid ?? 0;
    try {
      await eventually(async () => expect(out).toMatch(/^ready /m), 90_000, 100);
    } catch (error) {
      child.kill("SIGKILL");
      throw new Error(`fixture did not start:\n${out}`, { cause: error });
    }
    const dataDir = out.split(/\s+/)[2] ?? "";
    expect(await containersOwnedBy(pid)).toHaveLength(1);
    expect(existsSync(dataDir)).toBe(true);

    child.kill("SIGKILL");
    await eventually(async () => {
      expect(await containersOwnedBy(pid)).toEqual([]);
      expect(existsSync(dataDir)).toBe(false);
    }, 60_000);
  });

  it("removes at the next start the containers of runs that died, and keeps a live run's", async () => {
    const { GenericContainer } = await import("testcontainers");
    const dead = await deadPid();
    // As a run killed before its reaper knew the container would leave it.
    const orphan = await new GenericContainer(natsImage())
      .withNetworkMode("host")
      .withCommand(["-p", String(await freePort()), "-a", "127.0.0.1"])
      .withLabels({ [OWNER_LABEL]: ownerValue(dead) })
      .start();
    const live = await startNatsServer({ via: "docker" });
    try {
      expect(await containersOwnedBy(dead)).toEqual([orphan.getId()]);
      expect(await removeStaleContainers()).toBeGreaterThanOrEqual(1);
      expect(await containersOwnedBy(dead)).toEqual([]);
      // Ours (this process runs) is left alone and still serves.
      expect(await containersOwnedBy(process.pid)).toHaveLength(1);
      await live.restart();
    } finally {
      await live.dispose();
      await orphan.stop().catch(() => {});
    }
    expect(await containersOwnedBy(process.pid)).toEqual([]);
  });
});
