/**
 * A log-linear latency histogram (HdrHistogram's bucket layout, 64 sub-buckets per
 * power of two: ≤ 1.6 % error) over microseconds. Recording is one Math.clz32 and one
 * typed-array increment, so the reply hot path can afford it for every request.
 */
const SUB = 64;
const SUB_BITS = 6;
/** Values up to 2^31 µs (~36 min) have their own bucket; longer ones land in the last. */
const BUCKETS = (32 - SUB_BITS) * SUB + SUB;

function bucketOf(us: number): number {
  if (us < 2 * SUB) return us;
  const e = 31 - Math.clz32(us) - SUB_BITS; // us >>> e is in [64, 128)
  const i = (e + 1) * SUB + ((us >>> e) - SUB);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The lower edge of bucket `i`, in µs. */
function valueOf(i: number): number {
  if (i < 2 * SUB) return i;
  const e = Math.floor(i / SUB) - 1;
  return ((i % SUB) + SUB) * 2 ** e;
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;
  maxUs = 0;

  /** Record one latency in milliseconds (performance.now() differences). */
  recordMs(ms: number): void {
    let us = (ms * 1000) | 0;
    if (us < 0) us = 0;
    this.counts[bucketOf(us)]!++;
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
    this.maxUs = 0;
  }

  /** The q-quantile (0..1) in milliseconds: the middle of its bucket; NaN when empty. */
  quantileMs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const lo = valueOf(i);
        const hi = i + 1 < BUCKETS ? valueOf(i + 1) : lo;
        return Math.min((lo + hi) / 2, this.maxUs) / 1000;
      }
    }
    return this.maxUs / 1000;
  }

  /** p50 / p90 / p99 / max / mean in ms, rounded to µs (null when nothing was recorded). */
  summary(): LatencySummary | null {
    if (this.count === 0) return null;
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return {
      samples: this.count,
      p50: r(this.quantileMs(0.5)),
      p90: r(this.quantileMs(0.9)),
      p99: r(this.quantileMs(0.99)),
      max: r(this.maxUs / 1000),
      mean: r(this.sumUs / this.count / 1000),
    };
  }
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Quantile of an already sorted array (nearest rank). */
export function sortedQuantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
