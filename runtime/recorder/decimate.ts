/**
 * Min/max decimation of a time series for plotting, as `GET /history` answers it: pure, no
 * database, no clock.
 */
import { MAX_FIELDS, numericFields } from '../streams/fields.js';

/** A time series in columns: `time` ascending (s since the epoch), `values[field][i]` at `time[i]` or null. */
export interface Series {
  time: number[];
  values: Record<string, (number | null)[]>;
}

/**
 * At most `maxPoints` points of `series`, keeping its peaks. The time range from the first to
 * the last time is cut into equal buckets; in each, the minimum and the maximum of every field
 * survive at the time they were sampled (first occurrence on ties), and that point's other
 * fields are null — so nothing is averaged away. With F fields the number of buckets is
 * `floor(maxPoints / 2F)`; when that is 0 (more than `maxPoints / 2` fields), every k-th point
 * is kept instead (a stride), whole. A series of at most `maxPoints` points is returned as it
 * is (the same arrays). Output times stay ascending.
 * @param maxPoints a whole number ≥ 1.
 */
export function decimate(series: Series, maxPoints: number): Series {
  const n = series.time.length;
  if (n <= maxPoints) return series;
  const fields = Object.keys(series.values);
  const buckets = fields.length === 0 ? 0 : Math.floor(maxPoints / (2 * fields.length));
  if (buckets === 0) return stride(series, maxPoints);
  const t0 = series.time[0]!;
  const span = series.time[n - 1]! - t0;
  const bucketOf = (i: number) => (span > 0 ? Math.min(buckets - 1, Math.floor(((series.time[i]! - t0) / span) * buckets)) : 0);
  // For each field, the indexes of its minimum and maximum in each bucket.
  const keep = new Map<number, Set<string>>();
  const mark = (i: number, field: string) => {
    let set = keep.get(i);
    if (!set) keep.set(i, (set = new Set()));
    set.add(field);
  };
  for (const field of fields) {
    const column = series.values[field]!;
    let bucket = -1;
    let lo = -1;
    let hi = -1;
    const flush = () => {
      if (lo >= 0) mark(lo, field);
      if (hi >= 0) mark(hi, field);
    };
    for (let i = 0; i < n; i++) {
      const b = bucketOf(i);
      if (b !== bucket) {
        flush();
        bucket = b;
        lo = hi = -1;
      }
      const v = column[i];
      if (v === null || v === undefined || Number.isNaN(v)) continue;
      if (lo < 0 || v < column[lo]!) lo = i;
      if (hi < 0 || v > column[hi]!) hi = i;
    }
    flush();
  }
  const indexes = [...keep.keys()].sort((a, b) => a - b);
  const out: Series = { time: indexes.map((i) => series.time[i]!), values: {} };
  for (const field of fields) {
    const column = series.values[field]!;
    out.values[field] = indexes.map((i) => (keep.get(i)!.has(field) ? column[i]! : null));
  }
  return out;
}

/** Every k-th point (k = ceil(n / maxPoints)), all fields. */
function stride(series: Series, maxPoints: number): Series {
  const k = Math.ceil(series.time.length / maxPoints);
  const pick = <T>(a: T[]) => a.filter((_, i) => i % k === 0);
  return { time: pick(series.time), values: Object.fromEntries(Object.entries(series.values).map(([f, c]) => [f, pick(c)])) };
}

/**
 * Builds the columns of a series from items in time order: one column per numeric field (at
 * most {@link MAX_FIELDS}, the first seen), null where an item lacks that field.
 */
export function toSeries(rows: Iterable<{ time: number; data: unknown }>): Series {
  const time: number[] = [];
  const values: Record<string, (number | null)[]> = Object.create(null);
  let fields = 0;
  for (const row of rows) {
    const i = time.length;
    time.push(row.time);
    for (const [k, v] of numericFields(row.data)) {
      let column = values[k];
      if (!column) {
        if (fields >= MAX_FIELDS) continue;
        fields++;
        column = values[k] = new Array<number | null>(i).fill(null);
      }
      column.push(v);
    }
    for (const k in values) if (values[k]!.length === i) values[k]!.push(null);
  }
  return { time, values: { ...values } };
}
