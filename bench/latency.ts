/**
 * Latency samples in milliseconds. A bench run holds at most a few hundred thousand,
 * so keeping every sample and sorting once is exact and cheaper to trust than a sketch.
 */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LatencyRecorder {
  add(ms: number): void;
  readonly count: number;
  summary(): LatencySummary;
}

export function createLatencyRecorder(initialCapacity = 65_536): LatencyRecorder {
  let samples = new Float64Array(initialCapacity);
  let count = 0;
  return {
    add(ms) {
      if (count === samples.length) {
        const grown = new Float64Array(samples.length * 2);
        grown.set(samples);
        samples = grown;
      }
      samples[count++] = ms;
    },
    get count() {
      return count;
    },
    summary: () => summarize(samples.subarray(0, count)),
  };
}

export function summarize(values: Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0)
    return {
      count: 0,
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      max: Number.NaN,
      mean: Number.NaN,
    };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[n - 1] ?? Number.NaN,
    mean: sum / n,
  };
}

/** Nearest-rank percentile of an ascending array (the value at least q of samples are <=). */
function percentile(sorted: Float64Array, q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Rounds for the report: enough digits to compare runs, not enough to pretend precision. */
export function roundSummary(s: LatencySummary): LatencySummary {
  return {
    count: s.count,
    p50: round(s.p50, 2),
    p90: round(s.p90, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
    mean: round(s.mean, 2),
  };
}

export const round = (v: number, digits = 1): number => {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
