/** Small statistics helpers: median, range, percentiles and a mergeable latency histogram. */

export function sorted(values: number[]): number[] {
  return [...values].sort((x, y) => x - y);
}

/** Nearest-rank percentile (p in 0…100) of `values`; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (values: number[]): number => {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Median and range of a set of per-round figures. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/**
 * Latency histogram in ms with bounded size: 0.05 ms buckets below 50 ms, 1 ms below 5 s,
 * 10 ms beyond. Serialised as `{ "<bucket upper edge>": count }` so that the histograms of
 * several processes merge by adding counts.
 */
export class Histogram {
  readonly counts = new Map<number, number>();
  total = 0;

  static edge(ms: number): number {
    const v = Math.max(0, ms);
    const width = v < 50 ? 0.05 : v < 5000 ? 1 : 10;
    return Math.round((Math.floor(v / width) + 1) * width * 1000) / 1000;
  }

  add(ms: number, n = 1): void {
    const e = Histogram.edge(ms);
    this.counts.set(e, (this.counts.get(e) ?? 0) + n);
    this.total += n;
  }

  merge(json: Record<string, number>): void {
    for (const [edge, n] of Object.entries(json)) {
      this.counts.set(Number(edge), (this.counts.get(Number(edge)) ?? 0) + n);
      this.total += n;
    }
  }

  /** The bucket edge under which `p` % of the samples fall (an upper bound); NaN when empty. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const want = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (const edge of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(edge)!;
      if (seen >= want) return edge;
    }
    return NaN;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
