import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log/logger.js";
import { startTestApp } from "../support/test-app.js";

// The start-up log of a real app start says whether webhooks are on, in one line.
async function startupLines(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const app = await startTestApp(env, {
    logger: createLogger({ write: (l) => void lines.push(l) }),
  });
  await app.close();
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("start-up log: webhooks", () => {
  it("says on, with the endpoint host and events, never the secret or the URL path", async () => {
    const lines = await startupLines({
      WEBHOOK_URL: "http://127.0.0.1:9/hooks/PATH-TOKEN",
      WEBHOOK_SECRET: "SECRET-VALUE",
      WEBHOOK_EVENTS: "c2c-before-send,group-after-create",
    });
    const on = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("webhooks"));
    expect(on).toHaveLength(1);
    expect(on[0]).toMatchObject({
      msg: "webhooks on",
      webhookHost: "127.0.0.1:9",
      webhookEvents: "c2c-before-send,group-after-create",
      webhookTimeoutMs: 2000,
    });
    expect(JSON.stringify(lines)).not.toMatch(/SECRET-VALUE|PATH-TOKEN/);
  });

  it("says off when no webhook is configured", async () => {
    const lines = await startupLines({});
    expect(lines.filter((l) => l.msg === "webhooks off (WEBHOOK_URL not set)")).toHaveLength(1);
  });
});
