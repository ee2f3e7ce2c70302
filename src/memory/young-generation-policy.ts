/** One reading, taken every interval. */
export interface HeapReading {
  /** Bytes V8 has committed to new space (the young generation). */
  newSpaceCommitted: number;
  /** Share of the interval the event loop was busy, 0 to 1. */
  utilization: number;
  /** Monotonic time of the reading, in ms. */
  atMs: number;
}

/**
 * Decides when an idle server should run a memory-reducing collection to give
 * back the young generation a burst grew. V8 keeps new space at the size a burst
 * grew it to (up to 128 MB on Node 24) until a collection finds the allocation
 * rate low, and an idle server collects rarely; the keep-alives of 10,000 idle
 * streams still allocate ~1 MB/s, so "allocates nothing" is no test of idle, a
 * mostly idle event loop is. A collection is asked for after
 * `quietReadingsNeeded` consecutive quiet readings, only while new space is
 * larger than after the last release (asking again when V8 kept its size would
 * only cost another collection), and at most once per `gapMs`.
 */
export function createYoungGenerationPolicy(options: {
  quietReadingsNeeded: number;
  /** Event-loop utilization at or under which an interval counts as quiet. */
  quietUtilizationMax: number;
  gapMs: number;
}) {
  let quiet = 0;
  // The smallest new space seen: V8 starts it small and shrinks it itself at times.
  let floor = Number.POSITIVE_INFINITY;
  let lastReleaseMs = Number.NEGATIVE_INFINITY;
  return {
    shouldRelease(reading: HeapReading): boolean {
      floor = Math.min(floor, reading.newSpaceCommitted);
      quiet = reading.utilization <= options.quietUtilizationMax ? quiet + 1 : 0;
      if (quiet < options.quietReadingsNeeded || reading.newSpaceCommitted <= floor) return false;
      if (reading.atMs - lastReleaseMs < options.gapMs) return false;
      quiet = 0;
      lastReleaseMs = reading.atMs;
      return true;
    },
    /** New space's size after the collection asked for: the new floor. */
    released(newSpaceCommitted: number): void {
      floor = newSpaceCommitted;
    },
  };
}
