/**
 * Multi-pattern keyword matching (Aho-Corasick): one pass over a text finds
 * every keyword in it, so the cost per message hardly grows with the list.
 * Matching is on UTF-16 code units, ASCII letters folded to lower case (other
 * scripts are matched as written).
 */

/** What to do with a text that contains a keyword of a rule. */
export type KeywordAction = "replace" | "reject";

export interface KeywordRule {
  keyword: string;
  action: KeywordAction;
}

/** What a scan found. */
export interface KeywordScan {
  /** A keyword of a `reject` rule occurs. */
  reject: boolean;
  /** Code-unit ranges [start, end) covered by `replace` keywords, in order, possibly overlapping. */
  replace: [number, number][];
}

export interface KeywordMatcher {
  /** Number of distinct keywords. */
  readonly size: number;
  scan(text: string): KeywordScan;
}

const fold = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);

export function createKeywordMatcher(rules: readonly KeywordRule[]): KeywordMatcher {
  // The root's moves in a dense table (most steps of a scan start there),
  // every other state's in a small map of its own.
  const rootNext = new Int32Array(65_536);
  const next: (Map<number, number> | undefined)[] = [undefined];
  // Per state: the longest replace keyword ending here (own or via its suffix
  // chain), and whether a reject keyword ends here.
  const replaceLen: number[] = [0];
  const rejects: boolean[] = [false];
  const keywords = new Set<string>();
  const step = (state: number, unit: number): number | undefined => {
    if (state === 0) {
      const to = rootNext[unit] as number;
      return to === 0 ? undefined : to;
    }
    return next[state]?.get(unit);
  };

  for (const { keyword, action } of rules) {
    if (keyword === "") continue;
    let state = 0;
    for (let i = 0; i < keyword.length; i++) {
      const unit = fold(keyword.charCodeAt(i));
      let to = step(state, unit);
      if (to === undefined) {
        to = next.length;
        next.push(undefined);
        replaceLen.push(0);
        rejects.push(false);
        if (state === 0) rootNext[unit] = to;
        else {
          let map = next[state];
          if (map === undefined) {
            map = new Map();
            next[state] = map;
          }
          map.set(unit, to);
        }
      }
      state = to;
    }
    keywords.add(`${action}:${keyword.toLowerCase()}`);
    if (action === "reject") rejects[state] = true;
    else if (keyword.length > (replaceLen[state] as number)) replaceLen[state] = keyword.length;
  }

  // Failure links in breadth-first order; outputs inherited along them.
  const fail = new Int32Array(next.length);
  const queue: number[] = [];
  for (let unit = 0; unit < 65_536; unit++) {
    const to = rootNext[unit] as number;
    if (to !== 0) queue.push(to);
  }
  for (let q = 0; q < queue.length; q++) {
    const state = queue[q] as number;
    const moves = next[state];
    if (moves === undefined) continue;
    for (const [unit, child] of moves) {
      let f = fail[state] as number;
      let target = step(f, unit);
      while (target === undefined && f !== 0) {
        f = fail[f] as number;
        target = step(f, unit);
      }
      const link = target ?? 0;
      fail[child] = link;
      if (rejects[link]) rejects[child] = true;
      if ((replaceLen[link] as number) > (replaceLen[child] as number)) {
        replaceLen[child] = replaceLen[link] as number;
      }
      queue.push(child);
    }
  }

  // Compacted for scanning: each state's moves as a sorted run of (unit,
  // target) pairs in two typed arrays (most states have one or two moves: a
  // short search beats a Map lookup), outputs in typed arrays too.
  const first = new Int32Array(next.length + 1);
  let edges = 0;
  for (let s = 0; s < next.length; s++) {
    first[s] = edges;
    edges += next[s]?.size ?? 0;
  }
  first[next.length] = edges;
  const units = new Uint16Array(edges);
  const targets = new Int32Array(edges);
  for (let s = 1; s < next.length; s++) {
    let e = first[s] as number;
    for (const [unit, to] of [...(next[s] ?? [])].sort((a, b) => a[0] - b[0])) {
      units[e] = unit;
      targets[e++] = to;
    }
  }
  const outLen = Int32Array.from(replaceLen);
  const outReject = Uint8Array.from(rejects, (r) => (r ? 1 : 0));
  const move = (state: number, unit: number): number => {
    if (state === 0) return rootNext[unit] as number;
    let lo = first[state] as number;
    let hi = first[state + 1] as number;
    // Sorted runs: binary search down to a few, then linear.
    while (hi - lo > 8) {
      const mid = (lo + hi) >>> 1;
      if ((units[mid] as number) <= unit) lo = mid;
      else hi = mid;
    }
    for (let e = lo; e < hi; e++) {
      if (units[e] === unit) return targets[e] as number;
    }
    return -1;
  };

  const none: KeywordScan = { reject: false, replace: [] };
  return {
    size: keywords.size,
    scan(text) {
      if (next.length === 1) return none;
      let state = 0;
      let reject = false;
      let replace: [number, number][] | undefined;
      for (let i = 0; i < text.length; i++) {
        const unit = fold(text.charCodeAt(i));
        let to = move(state, unit);
        while (to === -1) {
          state = fail[state] as number;
          to = move(state, unit);
        }
        state = to;
        if (state === 0) continue;
        if (outReject[state] === 1) reject = true;
        const len = outLen[state] as number;
        if (len > 0) {
          replace ??= [];
          replace.push([i + 1 - len, i + 1]);
        }
      }
      return reject || replace !== undefined ? { reject, replace: replace ?? [] } : none;
    },
  };
}

/**
 * `text` with every code point inside `ranges` replaced by one `*` (a
 * surrogate pair is one character to the reader, so one star).
 */
export function maskRanges(text: string, ranges: readonly [number, number][]): string {
  const covered = new Uint8Array(text.length);
  for (const [start, end] of ranges) covered.fill(1, start, end);
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (covered[i] === 0) {
      out += text[i];
      continue;
    }
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    out += "*";
  }
  return out;
}
