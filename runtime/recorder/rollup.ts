/**
 * Rollups: the minimum and maximum of every numeric field of a stream per time bucket of
 * {@link ROLLUP_WIDTHS} seconds, kept beside the items as they are written, so that a history
 * query over hours or days reads a few thousand rollup rows instead of every item (bench case
 * 11: one hour of 10 Hz, 36 000 items, in ~100 ms from the items, a fraction of that from the
 * rollups). Pure: no database, no clock; runtime/recorder/store.ts stores the rows.
 */
import { numericFields } from '../streams/fields.js';
import type { Series } from './decimate.js';

/** Bucket widths kept, in s: 1 s and 1 min. A query uses the widest one not wider than its own buckets. */
export const ROLLUP_WIDTHS: readonly number[] = [1, 60];

/** One field of one stream in one bucket. Times in s since the epoch. */
export interface RollupRow {
  sketch: string;
  stream: string;
  /** Bucket width, s: one of {@link ROLLUP_WIDTHS}. */
  width: number;
  /** Bucket start, s since the epoch: a multiple of `width`. */
  bucket: number;
  field: string;
  /** Items counted (only items newly stored are added). */
  n: number;
  lo: number;
  /** Sample time of `lo` (the first one on ties). */
  loTime: number;
  hi: number;
  hiTime: number;
}

/** Start of the bucket of `width` s holding `time` (s). */
export function bucketOf(time: number, width: number): number {
  return Math.floor(time / width) * width;
}

/** One stream's rollups being collected: the bucket open at each width, and the buckets closed since the last take(). */
interface StreamState {
  open: Array<{ bucket: number; cells: Map<string, RollupRow> } | undefined>;
  closed: RollupRow[];
}

/**
 * Collects rollup rows from items as they are stored: `add()` per item, `take()` for the rows of
 * everything added since the last `take()` (partial buckets too: the store merges a row into the
 * one already stored, so a bucket may be written in several pieces).
 */
export class RollupAccumulator {
  /** Per stream (`sketch\0stream`): the bucket open at each width, and the buckets closed since the last take(). */
  #streams = new Map<string, StreamState>();
  /** The stream of the last item added: consecutive items mostly share one. */
  #last?: { sketch: string; stream: string; state: StreamState };

  /** Adds one stored item: its numeric fields (`numericFields()`) at its sample time. */
  add(sketch: string, stream: string, time: number, data: unknown): void {
    const fields = numericFields(data);
    if (fields.length === 0) return;
    let state = this.#last?.sketch === sketch && this.#last.stream === stream ? this.#last.state : undefined;
    if (!state) {
      const key = `${sketch}\0${stream}`;
      state = this.#streams.get(key);
      if (!state) this.#streams.set(key, (state = { open: [], closed: [] }));
      this.#last = { sketch, stream, state };
    }
    for (let w = 0; w < ROLLUP_WIDTHS.length; w++) {
      const width = ROLLUP_WIDTHS[w]!;
      const bucket = bucketOf(time, width);
      let open = state.open[w];
      if (!open || open.bucket !== bucket) {
        // Another bucket (items come in time order, mostly): the open one is done. An item back in
        // a bucket closed earlier opens it again; the store merges the two rows.
        if (open) for (const cell of open.cells.values()) state.closed.push(cell);
        open = state.open[w] = { bucket, cells: new Map() };
      }
      for (const [field, v] of fields) {
        const cell = open.cells.get(field);
        if (!cell) {
          open.cells.set(field, { sketch, stream, width, bucket, field, n: 1, lo: v, loTime: time, hi: v, hiTime: time });
          continue;
        }
        cell.n++;
        if (v < cell.lo || (v === cell.lo && time < cell.loTime)) (cell.lo = v), (cell.loTime = time);
        if (v > cell.hi || (v === cell.hi && time < cell.hiTime)) (cell.hi = v), (cell.hiTime = time);
      }
    }
  }

  /** The rows collected since the last call; the accumulator is empty afterwards. */
  take(): RollupRow[] {
    const rows: RollupRow[] = [];
    for (const state of this.#streams.values()) {
      rows.push(...state.closed);
      for (const open of state.open) if (open) rows.push(...open.cells.values());
    }
    this.#streams.clear();
    this.#last = undefined;
    return rows;
  }
}

/** One plotted value of one field at one time. */
export interface Candidate {
  time: number;
  field: string;
  value: number;
}

/**
 * Candidate points from rollup rows: each row's minimum and maximum at the times they were
 * sampled, for `decimate()` to choose from.
 */
export function candidatesOf(rows: Iterable<Pick<RollupRow, 'field' | 'lo' | 'loTime' | 'hi' | 'hiTime'>>): Candidate[] {
  const out: Candidate[] = [];
  for (const r of rows) {
    out.push({ time: r.loTime, field: r.field, value: r.lo });
    if (r.hiTime !== r.loTime || r.hi !== r.lo) out.push({ time: r.hiTime, field: r.field, value: r.hi });
  }
  return out;
}

/**
 * A series in columns from candidate points in any order: sorted by time; fields sampled at
 * the same time share a point (a second value of a field at that time gets a point of its
 * own), null where a field has no value at that time. Fields are listed in `fields` order first, then as first seen.
 */
export function seriesOf(candidates: Candidate[], fields: string[] = []): Series {
  const sorted = candidates.slice().sort((a, b) => a.time - b.time);
  const time: number[] = [];
  const values: Record<string, (number | null)[]> = Object.create(null);
  for (const f of fields) values[f] = [];
  for (const c of sorted) {
    let column = values[c.field];
    // A new point at a new time, or at the same time when this field already has a value there.
    if (time.length === 0 || time[time.length - 1] !== c.time || (column && column[time.length - 1] !== null)) {
      time.push(c.time);
      for (const f in values) values[f]!.push(null);
    }
    if (!column) column = values[c.field] = new Array<number | null>(time.length).fill(null);
    column[time.length - 1] = c.value;
  }
  return { time, values: { ...values } };
}
