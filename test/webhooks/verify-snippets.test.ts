import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WebhookRequestSchema } from "../../src/gen/im/v1/webhook_pb.js";
import { buildWebhookHttpRequest, commandOfCase } from "../../src/webhooks/index.js";

// The verification snippets endpoint authors copy (examples/webhook-verify, shown in
// tools/webhook-sim/README.md), run against a request signed by the server's own code.
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const dir = join(root, "examples/webhook-verify");
const run = promisify(execFile);
const SECRET = "endpoint-secret";
const NOW = 1_767_225_600_000;

const signed = (eventId: string) =>
  buildWebhookHttpRequest(
    SECRET,
    create(WebhookRequestSchema, {
      command: commandOfCase("c2cBeforeSend"),
      appId: "1400000000",
      eventTimeMs: BigInt(NOW),
      eventId,
      event: {
        case: "c2cBeforeSend",
        value: {
          fromAccount: "alice",
          toAccount: "bob",
          body: [{ element: { case: "text", value: { text: "héllo 👋" } } }],
        },
      },
    }),
    NOW,
  );

// Cases: the genuine request, then forgeries the scheme must catch, then a replay.
const cases = () => {
  const a = signed("evt-a");
  const b = signed("evt-b");
  return [
    { name: "genuine", headers: a.headers, body: a.body, ok: true },
    {
      name: "command moved",
      headers: { ...b.headers, "x-im-command": "group-before-send" },
      body: b.body,
      ok: false,
    },
    {
      name: "event id moved",
      headers: { ...b.headers, "x-im-event-id": "evt-z" },
      body: b.body,
      ok: false,
    },
    {
      name: "body changed",
      headers: b.headers,
      body: b.body.replace("alice", "mallory"),
      ok: false,
    },
    {
      name: "no version",
      headers: { ...b.headers, "x-im-signature-version": "" },
      body: b.body,
      ok: false,
    },
    { name: "replayed", headers: a.headers, body: a.body, ok: false },
  ];
};

describe("endpoint verification snippets", () => {
  it("Node (verify.mjs) accepts the server's request and rejects forgeries and replays", async () => {
    const mod = (await import(pathToFileURL(join(dir, "verify.mjs")).href)) as {
      verify: (
        secret: string,
        raw: Buffer,
        headers: Record<string, string>,
        nowMs: number,
      ) => boolean;
    };
    const results = cases().map((c) =>
      mod.verify(SECRET, Buffer.from(c.body, "utf8"), c.headers, NOW + 1000),
    );
    expect(results).toEqual(cases().map((c) => c.ok));
    expect(
      mod.verify(
        SECRET,
        Buffer.from(signed("evt-c").body),
        signed("evt-c").headers,
        NOW + 6 * 60_000,
      ),
    ).toBe(false);
  });

  it("Python (verify.py, run by python3) accepts the server's request and rejects forgeries and replays", async () => {
    // Headers go through email.message.Message: case-insensitive like Flask's request.headers.
    const driver = `
import json, sys
from email.message import Message
sys.path.insert(0, sys.argv[1])
from verify import verify
out = []
for c in json.load(sys.stdin):
    h = Message()
    for k, v in c["headers"].items():
        h[k] = v
    out.append(verify(b"${SECRET}", c["body"].encode("utf-8"), h, now_ms=${NOW + 1000}))
print(json.dumps(out))
`;
    const child = run("python3", ["-c", driver, dir]);
    child.child.stdin?.end(JSON.stringify(cases()));
    const { stdout } = await child;
    expect(JSON.parse(stdout)).toEqual(cases().map((c) => c.ok));
  });

  it("the README shows the snippets exactly as tested", async () => {
    const readme = await readFile(join(root, "tools/webhook-sim/README.md"), "utf8");
    for (const file of ["verify.mjs", "verify.py"]) {
      const code = (await readFile(join(dir, file), "utf8")).trim();
      expect(readme).toContain(code);
    }
  });
});
