import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/*
 * The project pins its own Node (the `node` package from the npm registry puts that
 * version's binary in node_modules/.bin), so `npm test`, `npm start` and CI run on it
 * whatever Node the machine has.
 */
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  dependencies: Record<string, string>;
  engines: { node: string };
};

describe("runtime", () => {
  it("is the Node version package.json pins", () => {
    console.log(`tests run on Node ${process.version}`);
    expect(process.versions.node).toBe(pkg.dependencies.node);
  });

  it("is a release the engines field admits", () => {
    const min = Number(/^>=(\d+)$/.exec(pkg.engines.node)?.[1]);
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(min);
  });
});
