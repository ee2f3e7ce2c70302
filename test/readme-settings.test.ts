import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { WEBHOOK_EVENT_NAMES } from "../src/webhooks/index.js";

// Every setting a reader in src/ takes from the environment must be a row of the README's
// settings table. Readers take (env, "NAME", ...); group-type settings are built as
// `GROUP_<TYPE>_...` from a per-type prefix.
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !p.includes(`${join(root, "src/gen")}`));
}

async function settingsReadInSrc(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of await sourceFiles(join(root, "src"))) {
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/\(\s*env\s*,\s*"([A-Z][A-Z0-9_]+)"/g)) names.add(m[1] ?? "");
    // Per-type group settings: `${p}NAME` and tips("NAME", ...) with p = `GROUP_${key}_`.
    if (/`GROUP_\$\{base\.key\}_`/.test(text)) {
      for (const m of text.matchAll(/`\$\{p\}([A-Z][A-Z0-9_]+)`/g))
        names.add(`GROUP_<TYPE>_${m[1]}`);
      for (const m of text.matchAll(/tips\(\s*"([A-Z][A-Z0-9_]+)"/g))
        names.add(`GROUP_<TYPE>_${m[1]}`);
    }
  }
  return names;
}

describe("README settings table", () => {
  it("lists every setting read in src/", async () => {
    const readme = await readFile(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Configure"), readme.indexOf("### Limits of"));
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    const documented = new Set(
      rows.flatMap((row) =>
        [...(row.split(" | ")[0] ?? "").matchAll(/`([A-Z][A-Z0-9_<>]+)`/g)].map((m) => m[1]),
      ),
    );
    const read = await settingsReadInSrc();
    // The scan itself must find the settings this issue named, or it proves nothing.
    for (const known of [
      "GROUP_PENDING_APPLICATIONS_MAX",
      "PROFILE_BATCH_MAX",
      "REQUEST_MAX_BYTES",
      "GROUP_<TYPE>_MEMBER_LIMIT",
      "GROUP_<TYPE>_GROUP_MUTE_TIPS",
    ]) {
      expect(read).toContain(known);
    }
    expect([...read].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });

  it("names every WEBHOOK_EVENTS value", async () => {
    const readme = await readFile(join(root, "README.md"), "utf8");
    const row = readme.split("\n").find((l) => l.startsWith("| `WEBHOOK_EVENTS`")) ?? "";
    for (const name of WEBHOOK_EVENT_NAMES) expect(row).toContain(`\`${name}\``);
  });
});
