import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MessageElementSchema } from "../../src/gen/im/v1/elements_pb.js";
import { eventNameOfCommand, WEBHOOK_EVENT_NAMES } from "../../src/webhooks/index.js";
import { runCli } from "./cli.js";
import { parseEventLines } from "./events-file.js";
import { fixtures } from "./fixtures.js";
import { tempDir, testIo } from "./test-helpers.js";
import { createBodyValidator } from "./validate-body.js";

describe("fixtures", () => {
  it("cover every event type, with unique ids, and are valid messages", () => {
    const all = fixtures();
    const names = new Set(all.map((f) => eventNameOfCommand(f.request.command)));
    expect(names).toEqual(new Set(WEBHOOK_EVENT_NAMES));
    expect(new Set(all.map((f) => f.request.eventId)).size).toBe(all.length);
    const validate = createBodyValidator();
    for (const f of all) {
      const e = f.request.event;
      if (
        e.case === "c2cBeforeSend" ||
        e.case === "groupBeforeSend" ||
        e.case === "c2cBeforeEdit" ||
        e.case === "groupBeforeEdit"
      ) {
        expect(validate(e.value.body, e.value.cloudCustomData), f.name).toBeUndefined();
      }
    }
  });

  it("`fixtures` writes replayable JSONL, the same every time", async () => {
    const a = testIo();
    const b = testIo();
    expect(await runCli(["fixtures"], a.io)).toBe(0);
    await runCli(["fixtures"], b.io);
    expect(a.stdout.text()).toBe(b.stdout.text());
    const events = parseEventLines(a.stdout.text(), "stdout");
    expect(events).toHaveLength(fixtures().length);
    expect(events[0]?.name).toBe("c2c-before-send: text message");

    const dir = await tempDir();
    try {
      const c = testIo();
      expect(await runCli(["fixtures", "--out", dir.file("f.jsonl")], c.io)).toBe(0);
      expect(await readFile(dir.file("f.jsonl"), "utf8")).toBe(a.stdout.text());
      expect(c.stderr.text()).toContain(`wrote ${fixtures().length} events`);
    } finally {
      await dir.remove();
    }
  });
});

describe("the simulator's body validator", () => {
  // It is messaging's bodyProblem (tested there); here only that the wiring and limit hold.
  const v = createBodyValidator(100);
  const el = (init: Parameters<typeof create<typeof MessageElementSchema>>[1]) =>
    create(MessageElementSchema, init);

  it.each([
    [[]],
    [[el({})]],
    [[el({ element: { case: "text", value: { text: "" } } })]],
    [
      [
        el({ element: { case: "custom", value: { data: "a" } } }),
        el({ element: { case: "custom", value: { data: "b" } } }),
      ],
    ],
    [[el({ element: { case: "text", value: { text: "x".repeat(200) } } })]],
  ])("rejects %o", (body) => {
    expect(v(body, "")).toEqual(expect.any(String));
  });

  it("accepts a valid body and counts custom data toward the size", () => {
    const body = [el({ element: { case: "text", value: { text: "hi" } } })];
    expect(v(body, "")).toBeUndefined();
    expect(v(body, "x".repeat(100))).toContain("limit is 100");
  });
});

describe("the webhook-sim executable", () => {
  const bin = fileURLToPath(new URL("./bin.js", import.meta.url));
  const run = promisify(execFile);

  it("runs through bin.js", async () => {
    const { stdout } = await run(process.execPath, [bin, "fixtures"]);
    expect(stdout.trim().split("\n")).toHaveLength(fixtures().length);
  });

  it("exits 2 on bad usage", async () => {
    const error = await run(process.execPath, [bin, "replay", "--fixtures"]).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain("--url");
  });
});
