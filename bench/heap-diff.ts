/**
 * What a heap holds more of after than before, by kind of object and by what
 * retains it: the per-stream breakdown of the idle-stream bench.
 *
 *   node --import tsx bench/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [--per N] [--top 25]
 *     [--paths TEXT]   (retainer chains of a few objects new in AFTER whose class contains TEXT)
 *     [--owners a,b,c] (objects new in AFTER by owner: the nearest retainer reached through
 *                       an edge or of a class so named, e.g. users,local,ServerHttp2Stream)
 *
 * Objects are grouped by V8's class name (constructor, closure name, "(string)"
 * and the like) and, for the retainer table, by the class and edge that hold
 * them (first retainer, weak edges skipped). `--per N` divides every figure by N
 * (the number of streams opened between the two snapshots).
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Tally {
  count: number;
  bytes: number;
}

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const [beforePath, afterPath] = args;
if (beforePath === undefined || afterPath === undefined) {
  throw new Error("usage: heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [--per N]");
}
const per = opt("per", 1);
const pathsOf = args.includes("--paths") ? args[args.indexOf("--paths") + 1] : undefined;
const top = opt("top", 25);
const samples = opt("samples", 6);
const maxDepth = opt("depth", 12);

const beforeSnapshot = load(beforePath);
const before = tally(beforeSnapshot);
const afterSnapshot = load(afterPath);
const after = tally(afterSnapshot);
print("by class (self size)", before.byClass, after.byClass);
print("by class <- retainer.edge (self size)", before.byRetainer, after.byRetainer);
if (pathsOf !== undefined) after.printPaths(pathsOf, before.ids);
const ownersArg = args.includes("--owners") ? args[args.indexOf("--owners") + 1] : undefined;
if (ownersArg !== undefined) after.printOwners(ownersArg.split(","), before.ids);

function load(path: string): Snapshot {
  return JSON.parse(readFileSync(path, "utf8")) as Snapshot;
}

function tally(s: Snapshot) {
  const { meta } = s.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [nType, nName, nId, nSize, nEdges] = ["type", "name", "id", "self_size", "edge_count"].map(
    (f) => meta.node_fields.indexOf(f),
  ) as [number, number, number, number, number];
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((f) =>
    meta.edge_fields.indexOf(f),
  ) as [number, number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const nodeCount = s.nodes.length / nf;
  const className = (n: number): string => {
    const type = nodeTypes[s.nodes[n * nf + nType] ?? 0] ?? "?";
    const name = s.strings[s.nodes[n * nf + nName] ?? 0] ?? "?";
    switch (type) {
      case "object":
      case "native":
        return name;
      case "closure":
        return `closure ${name}`;
      case "hidden":
      case "code":
      case "array":
        return `(${type}) ${name.slice(0, 40)}`;
      default:
        return `(${type})`;
    }
  };
  // First non-weak retainer of each node, and the edge's name.
  const retainer = new Int32Array(nodeCount).fill(-1);
  const retainerEdge = new Array<string>(nodeCount);
  let edge = 0;
  for (let n = 0; n < nodeCount; n++) {
    const count = s.nodes[n * nf + nEdges] ?? 0;
    for (let k = 0; k < count; k++, edge += ef) {
      const type = edgeTypes[s.edges[edge + eType] ?? 0];
      if (type === "weak" || type === "shortcut") continue;
      const to = (s.edges[edge + eTo] ?? 0) / nf;
      if (retainer[to] !== -1) continue;
      retainer[to] = n;
      const raw = s.edges[edge + eName] ?? 0;
      retainerEdge[to] =
        type === "element" || type === "hidden" ? `[${type}]` : (s.strings[raw] ?? "?");
    }
  }
  const byClass = new Map<string, Tally>();
  const byRetainer = new Map<string, Tally>();
  const add = (map: Map<string, Tally>, key: string, bytes: number) => {
    const t = map.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += bytes;
    map.set(key, t);
  };
  for (let n = 0; n < nodeCount; n++) {
    const bytes = s.nodes[n * nf + nSize] ?? 0;
    const cls = className(n);
    add(byClass, cls, bytes);
    const r = retainer[n] ?? -1;
    const via = r === -1 ? "(root)" : `${className(r)}.${retainerEdge[n]}`;
    add(byRetainer, `${cls} <- ${via}`, bytes);
  }
  const ids = new Set<number>();
  for (let n = 0; n < nodeCount; n++) ids.add(s.nodes[n * nf + nId] ?? 0);
  const printPaths = (text: string, old: Set<number>) => {
    const matching: number[] = [];
    for (let n = 0; n < nodeCount; n++) {
      if (!old.has(s.nodes[n * nf + nId] ?? 0) && className(n).includes(text)) matching.push(n);
    }
    console.log(`\n${matching.length} new objects of a class containing "${text}"; samples:`);
    for (let k = 0; k < samples && matching.length > 0; k++) {
      let n = matching[Math.floor((k * matching.length) / samples)] ?? 0;
      const chain: string[] = [];
      for (let depth = 0; depth < maxDepth && n !== -1; depth++) {
        const name = s.strings[s.nodes[n * nf + nName] ?? 0] ?? "";
        chain.push(
          `${className(n)} "${name.slice(0, 60).replace(/\n/g, " ")}"${depth === 0 ? "" : ""}`,
        );
        const edgeName = retainerEdge[n];
        n = retainer[n] ?? -1;
        if (n !== -1) chain.push(`  .${edgeName} of`);
      }
      console.log(`- ${chain.join("\n    ")}`);
    }
  };
  const printOwners = (anchors: string[], old: Set<number>) => {
    const byOwner = new Map<string, Tally>();
    const others: number[] = [];
    for (let n = 0; n < nodeCount; n++) {
      if (old.has(s.nodes[n * nf + nId] ?? 0)) continue;
      let owner = "(other)";
      for (let x = n, depth = 0; x !== -1 && depth < 40; depth++) {
        const cls = className(x);
        const edgeName = retainerEdge[x] ?? "";
        const hit = anchors.find((a) => a === cls || a === edgeName);
        if (hit !== undefined) {
          owner = hit;
          break;
        }
        x = retainer[x] ?? -1;
      }
      add(byOwner, owner, s.nodes[n * nf + nSize] ?? 0);
      if (owner === "(other)") others.push(n);
    }
    const rows = [...byOwner].sort((p, q) => q[1].bytes - p[1].bytes);
    console.log("\nnew objects by owner (self size):");
    for (const [owner, t] of rows) {
      console.log(
        `${(t.bytes / per).toFixed(0).padStart(9)} B ${(t.count / per).toFixed(2).padStart(9)} objs  ${owner}`,
      );
    }
    console.log("\n(other): retainer chains of a few");
    for (let k = 0; k < samples && others.length > 0; k++) {
      let x = others[Math.floor((k * others.length) / samples)] ?? 0;
      const chain: string[] = [];
      for (let depth = 0; depth < maxDepth && x !== -1; depth++) {
        chain.push(`${className(x)}.${retainerEdge[x] ?? ""}`);
        x = retainer[x] ?? -1;
      }
      console.log(`- ${chain.join(" < ")}`);
    }
  };
  return { byClass, byRetainer, ids, printPaths, printOwners };
}

function print(title: string, a: Map<string, Tally>, b: Map<string, Tally>) {
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
    const x = a.get(key) ?? { count: 0, bytes: 0 };
    const y = b.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: (y.count - x.count) / per, bytes: (y.bytes - x.bytes) / per };
  });
  rows.sort((p, q) => q.bytes - p.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`\n${title}: ${(total / 1024).toFixed(2)} KB${per === 1 ? "" : " per stream"}`);
  for (const r of rows.slice(0, top)) {
    console.log(
      `${r.bytes.toFixed(0).padStart(9)} B ${r.count.toFixed(2).padStart(9)} objs  ${r.key}`,
    );
  }
}
