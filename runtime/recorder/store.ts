/**
 * The recorder's SQLite database: every stream item received, one row each, and every gap.
 * Compact for an SD card (issue 22): a `series` row per sketch, stream and epoch holds the
 * texts every item would repeat, and an item's row (`samples`, clustered on series and seq)
 * holds its seq, sample time, publish and receive delays in µs and its data as a patch against
 * the series' first item (runtime/recorder/compact.ts): ~70 bytes a thermometer reading where
 * one row per item with three indexes took ~290. The view `items` shows the old row shape but `data`.
 * Writes are queued and written in batches, one synchronous transaction each (better-sqlite3's
 * `db.transaction()`; never an `await` inside); retention deletes in small steps between
 * batches, so ingest is never blocked for long. docs/API.md ("Recorder") documents the schema.
 */
import { wallClock } from '../streams/wall-clock.js';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errors, oneLine } from '../errors.js';
import { numericFields } from '../streams/fields.js';
import { decimate, toSeries, type Series } from './decimate.js';
import { bucketOf, candidatesOf, ROLLUP_WIDTHS, RollupAccumulator, seriesOf, type Candidate, type RollupRow } from './rollup.js';
import { openDatabase, type Database, type Statement } from './sqlite.js';
import { baseOf, Codec } from './compact.js';

/** One stream item as recorded. Times in seconds since the epoch. */
export interface RecordItem {
  /** Instance name of the sketch it came from. */
  sketch: string;
  /** That sketch's kind (TXT `kind=`). */
  kind: string;
  /** Stream path, e.g. `/readings`. */
  stream: string;
  /** The stream's epoch when it was published. */
  epoch: string;
  seq: number;
  /** When the sample was taken. */
  time: number;
  /** When the sketch published it. */
  published: number;
  /** When the recorder received it. */
  received: number;
  /** The item's data as JSON text. */
  data: string;
  /** The same data parsed, when the caller has it: saves a `JSON.parse` for the rollups. */
  value?: unknown;
}

/**
 * An item as {@link RecordStore.add} takes it: a {@link RecordItem} whose `data` may be left out
 * when `value` is given. The text is then made (`JSON.stringify(value)`, `null` for nothing) only
 * when it is needed: for an item stored whole or the first of a series, not for one stored as a patch.
 */
export type RecordInput = Omit<RecordItem, 'data'> & { data?: string };

/** Items a stream's subscriber will never get (`{"gap":…}` frames, or a resume that found them evicted). */
export interface RecordGap {
  sketch: string;
  stream: string;
  epoch: string;
  /** First and last seq missed, inclusive. */
  from: number;
  to: number;
  /** `evicted` (no longer held by the sketch) or `dropped` (skipped for a slow subscriber). */
  reason: string;
  /** When it was noticed, s since the epoch. */
  time: number;
}

/** Options of {@link RecordStore}; every one but `file` is optional. */
export interface RecordStoreOptions {
  /** The database file; created (with its tables) when missing. `:memory:` for tests. */
  file: string;
  /** Items written per transaction at most: a full queue is written at once. Default {@link BATCH_ITEMS} (500). */
  batchItems?: number;
  /**
   * Longest an item waits in the queue before its batch is written, in ms. Default
   * {@link FLUSH_MS} (1000). Every write is a commit appending its pages to the WAL, so on an SD
   * card this sets the wear (bench case 20); what waits is not lost when the recorder is killed,
   * as it resumes from the producers' histories, and queries write the queue first.
   */
  flushMs?: number;
  /** Delete items sampled more than this many seconds ago. Default: none (keep everything). */
  keepSeconds?: number;
  /** Delete the oldest items while the data in the file passes this many MB (10^6 bytes). Default: none. */
  maxSizeMB?: number;
  /** Rows deleted per retention step (one short transaction). Default {@link RETENTION_STEP} (500). */
  retentionStep?: number;
  /** Current time in seconds since the epoch. Default: the process's wall clock (runtime/streams/wall-clock.ts). */
  now?: () => number;
  /** The wall clock's forward steps within the last `ms` of monotonic time, ms (see `WallClock.forwardStepsWithin`). Default: the process's wall clock's. */
  steppedAhead?: (ms: number) => number;
  /** Where one-line warnings go. Default: nowhere. */
  log?: (line: string) => void;
  /**
   * Called when writing fails for want of space or a working disk (SQLITE_FULL, an I/O error, a
   * read-only remount) with the state, and again with `'ok'` once a retry wrote: the recorder
   * then stops its subscriptions (the producers keep the items in their histories) and resumes
   * them after the newest stored item. Default: nothing.
   */
  onStorage?: (state: StorageState) => void;
  /** First retry after a failed write, ms; doubles up to {@link STORAGE_RETRY_MAX_MS}. Default {@link STORAGE_RETRY_MS} (1000). */
  retryMs?: number;
}

/** The database's writability: `ok`, `full` (SQLITE_FULL: no space left) or `error` (I/O error, read-only). */
export type StorageState = 'ok' | 'full' | 'error';
/** Default {@link RecordStoreOptions.retryMs}: 1000 ms. */
export const STORAGE_RETRY_MS = 1000;
/** Longest wait between two retries of a failed write: 30 000 ms. */
export const STORAGE_RETRY_MAX_MS = 30_000;
/** Bytes a retry writes (and deletes) to check that space came back: 64 KiB. */
const PROBE_BYTES = 65_536;

/** The storage state a write error means, or undefined for any other error. */
function storageState(err: unknown): Exclude<StorageState, 'ok'> | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL') return 'full';
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN') return 'error';
  return undefined;
}

/** Prepared statements a store keeps at most (they are dropped all at once past it). */
const MAX_STATEMENTS = 64;
/** Default {@link RecordStoreOptions.batchItems}: 500 items per transaction. */
export const BATCH_ITEMS = 500;
/** Default {@link RecordStoreOptions.flushMs}: a queued item is written within 1000 ms (`sketch run recorder --flush 1`). */
export const FLUSH_MS = 1000;
/** Default {@link RecordStoreOptions.retentionStep}: 500 rows deleted per step. */
export const RETENTION_STEP = 500;
/** Default `max_points` of a history query: 2000. */
export const DEFAULT_MAX_POINTS = 2000;
/** Largest `max_points` of a history query: 100 000. */
export const MAX_POINTS = 100_000;
/** Default span of a history query without `since`, in s: one hour. */
export const DEFAULT_HISTORY_SECONDS = 3600;

/** One line of `GET /recorded`: a recorded stream. Times in s since the epoch. */
export interface RecordedStream {
  sketch: string;
  kind: string;
  stream: string;
  count: number;
  first: number;
  last: number;
  /** Epoch and seq of the newest item recorded. */
  epoch: string;
  seq: number;
}

/** A history query (`GET /history`). Times in s since the epoch. */
export interface HistoryQuery {
  sketch: string;
  stream: string;
  /** Default: `until − 3600`. */
  since?: number;
  /** Default: now. */
  until?: number;
  /** Most points (or rows with `raw`); 1 to {@link MAX_POINTS}. Default {@link DEFAULT_MAX_POINTS}. */
  maxPoints?: number;
  /** Rows as recorded instead of plot columns. */
  raw?: boolean;
}

/** A raw row of a history answer. */
export interface HistoryRow {
  epoch: string;
  seq: number;
  time: number;
  published: number;
  received: number;
  data: unknown;
}

/** The answer to a history query (the `GET /history` JSON). */
export interface HistoryAnswer {
  sketch: string;
  stream: string;
  since: number;
  until: number;
  /** Items recorded in the range. */
  count: number;
  decimated: boolean;
  fields?: string[];
  time?: number[];
  values?: Record<string, (number | null)[]>;
  rows?: HistoryRow[];
  gaps: Array<{ epoch: string; from: number; to: number; reason: string; time: number }>;
  /** Newest item recorded of the stream (in the range or not), or null. */
  last: { epoch: string; seq: number; time: number } | null;
}

/** What {@link RecordStore.select} picks for export and replay. Times in s since the epoch. */
export interface Selection {
  sketch?: string;
  stream?: string;
  since?: number;
  until?: number;
}

type StoreSettings = Required<Omit<RecordStoreOptions, 'keepSeconds' | 'maxSizeMB'>> & { keepSeconds?: number; maxSizeMB?: number };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS storage_probe (b BLOB);
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY,
  sketch TEXT NOT NULL,
  stream TEXT NOT NULL,
  epoch TEXT NOT NULL,
  kind TEXT NOT NULL,
  base TEXT NOT NULL,
  time_key TEXT,
  UNIQUE (sketch, stream, epoch)
);
CREATE TABLE IF NOT EXISTS samples (
  series INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time REAL NOT NULL,
  published INTEGER NOT NULL,
  received INTEGER NOT NULL,
  data TEXT,
  patch TEXT,
  PRIMARY KEY (series, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_by_time ON samples (series, time);
CREATE TABLE IF NOT EXISTS gaps (
  id INTEGER PRIMARY KEY,
  sketch TEXT NOT NULL,
  stream TEXT NOT NULL,
  epoch TEXT NOT NULL,
  from_seq INTEGER NOT NULL,
  to_seq INTEGER NOT NULL,
  reason TEXT NOT NULL,
  time REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS gaps_once ON gaps (sketch, stream, epoch, from_seq, to_seq);
CREATE INDEX IF NOT EXISTS gaps_by_stream_time ON gaps (sketch, stream, time);
CREATE TABLE IF NOT EXISTS rollups (
  sketch TEXT NOT NULL,
  stream TEXT NOT NULL,
  width INTEGER NOT NULL,
  bucket REAL NOT NULL,
  field TEXT NOT NULL,
  n INTEGER NOT NULL,
  lo REAL NOT NULL,
  lo_time REAL NOT NULL,
  hi REAL NOT NULL,
  hi_time REAL NOT NULL,
  PRIMARY KEY (sketch, stream, width, bucket, field)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_by_bucket ON rollups (bucket);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
`;

/**
 * The old row shape but `data`, for reading with SQL (tests, the sqlite3 shell). Times in s.
 * An item's data is a patch against its series' base: read it with {@link RecordStore.select}
 * or `sketch export`.
 */
const ITEMS_VIEW = `
CREATE VIEW IF NOT EXISTS items AS SELECT s.sketch, s.kind, s.stream, s.epoch, i.seq, i.time,
  i.time + i.published / 1e6 AS published, i.time + i.received / 1e6 AS received
FROM samples i JOIN series s ON s.id = i.series;
`;

/** The row shape before the compact format: a file written by an older recorder has it; it is converted when opened. */
const OLD_ITEMS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'";

/** Seconds to whole µs after `time` (publish and receive delays are stored so). */
const delayUs = (at: number, time: number) => Math.round((at - time) * 1e6);
/** A delay in µs back to a time in s, rounded to the µs. */
const atUs = (time: number, us: number) => Math.round((time + us / 1e6) * 1e6) / 1e6;

/** One series as the store caches it. */
interface SeriesRow {
  id: number;
  sketch: string;
  stream: string;
  epoch: string;
  kind: string;
  codec: Codec;
}

/** Merges a rollup row into the stored one (SQLite ≥ 3.24 upsert: the right-hand sides read the old row). */
const UPSERT_ROLLUP = `INSERT INTO rollups (sketch, stream, width, bucket, field, n, lo, lo_time, hi, hi_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
  n = n + excluded.n,
  lo = CASE WHEN excluded.lo < lo THEN excluded.lo ELSE lo END,
  lo_time = CASE WHEN excluded.lo < lo OR (excluded.lo = lo AND excluded.lo_time < lo_time) THEN excluded.lo_time ELSE lo_time END,
  hi = CASE WHEN excluded.hi > hi THEN excluded.hi ELSE hi END,
  hi_time = CASE WHEN excluded.hi > hi OR (excluded.hi = hi AND excluded.hi_time < hi_time) THEN excluded.hi_time ELSE hi_time END`;

/**
 * The recorder's database. `add()`/`addGap()` queue; the queue is written in one transaction
 * when it holds `batchItems` items or `flushMs` after its first item, whichever comes first.
 * A resent item (same sketch, stream, epoch and seq) is stored once. Retention (`keepSeconds`,
 * `maxSizeMB`) deletes at most `retentionStep` rows per step, one step after each batch and
 * more on the next turns of the event loop while more is due. Queries read what is written
 * (call {@link flush} first to include the queue).
 */
export class RecordStore {
  readonly file: string;
  readonly #db: Database;
  readonly #options: StoreSettings;
  readonly #insert: Statement;
  readonly #insertGap: Statement;
  /** Series by id, and by `sketch\0stream\0epoch`: a few per recorded stream, read once each. */
  readonly #seriesById = new Map<number, SeriesRow>();
  readonly #seriesByKey = new Map<string, SeriesRow>();
  readonly #upsertRollup: Statement;
  #rollups = new RollupAccumulator();
  #storage: StorageState = 'ok';
  #storageError?: string;
  #unstored = 0;
  #retryTimer?: NodeJS.Timeout;
  #retryDelay = STORAGE_RETRY_MS;
  /** Rollups hold every item sampled from this time on (s); older items (a file from before rollups) are decimated from the items. */
  readonly #rollupsFrom: number;
  readonly #write: (items: RecordInput[], gaps: RecordGap[], rollups?: boolean) => number;
  #queue: RecordInput[] = [];
  #gapQueue: RecordGap[] = [];
  #timer?: NodeJS.Timeout;
  #retaining?: NodeJS.Immediate;
  #written = 0;
  #deleted = 0;
  #closed = false;
  /** Prepared statements by SQL text (and raw mode), so that a query or a retention step prepares none after its first run. */
  readonly #statements = new Map<string, Statement<unknown>>();
  /** The series of the last item written: consecutive items mostly share one (a subscriber's frames come in runs). */
  #lastSeries?: SeriesRow;

  /**
   * Opens or creates the database (WAL mode, incremental auto-vacuum for new files).
   * @throws SketchError `SKETCH_ERR_RECORD_DB` when the file cannot be opened or is not a
   *   recorder database; `SKETCH_ERR_INVALID_OPTION` for an option out of bounds;
   *   `SKETCH_ERR_ADDON` when better-sqlite3 cannot be loaded.
   */
  constructor(options: RecordStoreOptions) {
    this.#options = {
      batchItems: BATCH_ITEMS,
      flushMs: FLUSH_MS,
      retentionStep: RETENTION_STEP,
      now: () => wallClock.now(),
      steppedAhead: (ms: number) => wallClock.forwardStepsWithin(ms),
      log: () => {},
      onStorage: () => {},
      retryMs: STORAGE_RETRY_MS,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as unknown as StoreSettings;
    const o = this.#options;
    this.#retryDelay = o.retryMs;
    const whole = (name: string, v: number) => {
      if (!Number.isInteger(v) || v < 1) throw errors.INVALID_OPTION(`${name} must be a whole number ≥ 1, got ${v}`);
    };
    whole('batchItems', o.batchItems);
    whole('retentionStep', o.retentionStep);
    if (!(o.flushMs >= 0)) throw errors.INVALID_OPTION(`flushMs must be a number of ms ≥ 0, got ${o.flushMs}`);
    if (o.keepSeconds !== undefined && !(o.keepSeconds > 0)) throw errors.INVALID_OPTION(`keep must be a duration > 0, got ${o.keepSeconds} s`);
    if (o.maxSizeMB !== undefined && !(o.maxSizeMB > 0)) throw errors.INVALID_OPTION(`max size must be a number of MB > 0, got ${o.maxSizeMB}`);
    this.file = options.file;
    let db: Database | undefined;
    try {
      db = openDatabase(options.file);
      db.pragma('auto_vacuum = INCREMENTAL'); // takes effect for a new file only
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    } catch (err) {
      db?.close();
      if (err instanceof Error && err.name === 'SketchError') throw err;
      throw errors.RECORD_DB(options.file, oneLine(err));
    }
    this.#db = db;
    this.#insert = db.prepare('INSERT OR IGNORE INTO samples (series, seq, time, published, received, data, patch) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#insertGap = db.prepare(
      'INSERT OR IGNORE INTO gaps (sketch, stream, epoch, from_seq, to_seq, reason, time) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#upsertRollup = db.prepare(UPSERT_ROLLUP);
    const oldItems = db.prepare(OLD_ITEMS).get() !== undefined;
    this.#rollupsFrom = rollupsFrom(db, oldItems ? 'items' : 'samples');
    this.#write = db.transaction((items: RecordInput[], gaps: RecordGap[], rollups = true) => {
      let n = 0;
      for (const i of items) {
        const value = 'value' in i ? i.value : parseJson(i.data!);
        const series = this.#seriesFor(i, value);
        const stored = series.codec.encode(value, i.data ?? (() => textOf(i)), i.time);
        if (this.#insert.run(series.id, i.seq, i.time, delayUs(i.published, i.time), delayUs(i.received, i.time), stored.data, stored.patch).changes === 0) continue;
        n++;
        if (rollups) this.#rollups.add(i.sketch, i.stream, i.time, value);
      }
      for (const r of this.#rollups.take()) {
        this.#upsertRollup.run(r.sketch, r.stream, r.width, r.bucket, r.field, r.n, r.lo, r.loTime, r.hi, r.hiTime);
      }
      for (const g of gaps) this.#insertGap.run(g.sketch, g.stream, g.epoch, g.from, g.to, g.reason, g.time);
      return n;
    });
    try {
      if (oldItems) this.#convert();
      db.exec(ITEMS_VIEW);
    } catch (err) {
      db.close();
      throw errors.RECORD_DB(options.file, oneLine(err));
    }
  }

  /**
   * A statement prepared once per SQL text (`raw`: rows as arrays) and kept while the store is
   * open. Not for `iterate()`: a statement being iterated is busy and cannot be shared.
   */
  #prepare<R = unknown>(sql: string, raw = false): Statement<R> {
    const key = raw ? `raw\0${sql}` : sql;
    let stmt = this.#statements.get(key) as Statement<R> | undefined;
    if (!stmt) {
      // Statements with one `?` per series of a stream (#range) vary: a bound keeps the map small.
      if (this.#statements.size >= MAX_STATEMENTS) this.#statements.clear();
      stmt = this.#db.prepare<R>(sql);
      if (raw) stmt.raw();
      this.#statements.set(key, stmt);
    }
    return stmt;
  }

  /** The series an item belongs to, created (its data the base) when it is the first of its epoch. */
  #seriesFor(i: RecordInput, value: unknown): SeriesRow {
    const last = this.#lastSeries;
    if (last && last.sketch === i.sketch && last.stream === i.stream && last.epoch === i.epoch) return last;
    const key = `${i.sketch}\0${i.stream}\0${i.epoch}`;
    let series = this.#seriesByKey.get(key);
    if (series) return (this.#lastSeries = series);
    const row = this.#prepare<{ id: number; kind: string; base: string; time_key: string | null }>('SELECT id, kind, base, time_key FROM series WHERE sketch = ? AND stream = ? AND epoch = ?').get(
      i.sketch,
      i.stream,
      i.epoch,
    );
    if (row) return this.#remember({ id: row.id, sketch: i.sketch, stream: i.stream, epoch: i.epoch, kind: row.kind, codec: new Codec({ text: row.base, timeKey: row.time_key }) });
    const base = baseOf(value, textOf(i), i.time);
    const id = Number(
      this.#prepare('INSERT INTO series (sketch, stream, epoch, kind, base, time_key) VALUES (?, ?, ?, ?, ?, ?)').run(i.sketch, i.stream, i.epoch, i.kind, base.text, base.timeKey)
        .lastInsertRowid,
    );
    series = { id, sketch: i.sketch, stream: i.stream, epoch: i.epoch, kind: i.kind, codec: new Codec(base) };
    return this.#remember(series);
  }

  #remember(series: SeriesRow): SeriesRow {
    this.#lastSeries = series;
    this.#seriesById.set(series.id, series);
    this.#seriesByKey.set(`${series.sketch}\0${series.stream}\0${series.epoch}`, series);
    return series;
  }

  /** A series by id (read from the file the first time). */
  #series(id: number): SeriesRow {
    const known = this.#seriesById.get(id);
    if (known) return known;
    const row = this.#prepare<{ sketch: string; stream: string; epoch: string; kind: string; base: string; time_key: string | null }>('SELECT sketch, stream, epoch, kind, base, time_key FROM series WHERE id = ?')
      .get(id);
    if (!row) throw new Error(`no series ${id} in ${this.file}`);
    return this.#remember({ id, sketch: row.sketch, stream: row.stream, epoch: row.epoch, kind: row.kind, codec: new Codec({ text: row.base, timeKey: row.time_key }) });
  }

  /** Ids of one stream's series (one per epoch recorded). */
  #seriesOf(sketch: string, stream: string): number[] {
    return this.#prepare<[number]>('SELECT id FROM series WHERE sketch = ? AND stream = ?', true)
      .all(sketch, stream)
      .map((r) => (r as [number])[0]);
  }

  /**
   * Converts a file written before the compact format (one `items` row per item, three
   * indexes) in place: its items copied in batches into the new tables (their rollups are
   * there already), then the old table dropped and its pages given back (incremental vacuum).
   */
  #convert(): void {
    const total = this.#db.prepare<{ n: number }>('SELECT count(*) AS n FROM items').get()!.n;
    this.#options.log(`converting ${this.file} to the compact format (${total} items)…`);
    const read = this.#db.prepare<RecordItem & { id: number }>(
      'SELECT id, sketch, kind, stream, epoch, seq, time, published, received, data FROM items WHERE id > ? ORDER BY id LIMIT 5000',
    );
    const move = this.#db.transaction(() => {
      for (let after = 0; ; ) {
        const rows = read.all(after);
        if (rows.length === 0) break;
        this.#write(rows, [], false);
        after = rows.at(-1)!.id;
      }
      this.#db.exec('DROP TABLE items');
    });
    move();
    this.#db.pragma('incremental_vacuum');
    this.#options.log(`converted ${this.file}: ${total} items`);
  }

  /** The better-sqlite3 connection (for tests and the bench: `EXPLAIN QUERY PLAN`). */
  get db(): Database {
    return this.#db;
  }

  /** Whether the database takes writes: `ok`, or since a failed write `full` / `error` until a retry wrote. */
  get storage(): StorageState {
    return this.#storage;
  }

  /** Why the last write failed (one line), while `storage` is not `ok`. */
  get storageError(): string | undefined {
    return this.#storageError;
  }

  /** Items not stored because the disk was full or failing (the recorder asks the producers for them again). */
  get unstored(): number {
    return this.#unstored;
  }

  /** Free bytes on the database's file system (`statfs`), or null when unknown (`:memory:`). */
  get freeBytes(): number | null {
    if (this.file === ':memory:') return null;
    try {
      const st = statfsSync(dirname(this.file));
      return st.bavail * st.bsize;
    } catch {
      return null;
    }
  }

  /** Items queued, not yet written. */
  get queued(): number {
    return this.#queue.length + this.#gapQueue.length;
  }

  /** Items written since the store was opened (a resent item already stored counts 0). */
  get written(): number {
    return this.#written;
  }

  /** Items deleted by retention since the store was opened. */
  get deleted(): number {
    return this.#deleted;
  }

  /** Bytes the database holds in use: its pages minus the free ones (the file may be larger until vacuumed). */
  get usedBytes(): number {
    const page = this.#db.pragma('page_size', { simple: true }) as number;
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * page;
  }

  /** Size of the database file plus its WAL, in bytes. */
  get fileBytes(): number {
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    return this.file === ':memory:' ? this.usedBytes : size(this.file) + size(`${this.file}-wal`);
  }

  /** Queues one item; the batch is written when full or after `flushMs`. */
  add(item: RecordInput): void {
    if (this.#closed) return;
    if (this.#storage !== 'ok') {
      this.#unstored++; // the producer still holds it: asked for again once writes work
      return;
    }
    this.#queue.push(item);
    this.#schedule();
  }

  /** Queues one gap, written with the next batch. */
  addGap(gap: RecordGap): void {
    if (this.#closed || this.#storage !== 'ok') return;
    this.#gapQueue.push(gap);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queue.length >= this.#options.batchItems) {
      this.flush();
      return;
    }
    this.#timer ??= setTimeout(() => this.flush(), this.#options.flushMs);
  }

  /**
   * Writes what is queued now, in one transaction, then runs one retention step.
   * @returns the items newly stored (resent ones already stored are not counted).
   */
  flush(): number {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || (this.#queue.length === 0 && this.#gapQueue.length === 0)) return 0;
    const items = this.#queue;
    const gaps = this.#gapQueue;
    this.#queue = [];
    this.#gapQueue = [];
    let n: number;
    try {
      n = this.#write(items, gaps);
    } catch (err) {
      const state = storageState(err);
      if (!state) throw err;
      this.#unstored += items.length;
      this.#failed(state, err);
      return 0;
    }
    this.#written += n;
    this.#retainSoon();
    return n;
  }

  /** A write failed for want of space or disk: one line, then retries with backoff (eviction first, with `maxSizeMB`). */
  #failed(state: Exclude<StorageState, 'ok'>, err: unknown): void {
    this.#rollups = new RollupAccumulator(); // what the failed transaction held is rolled back
    if (this.#storage === 'ok') {
      const free = this.freeBytes;
      this.#options.log(
        `cannot write to ${this.file}: ${state === 'full' ? 'the disk is full' : oneLine(err)}${free === null ? '' : ` (${free} bytes free)`}; ` +
          'still answering /recorded and /history from what is stored, retrying with backoff; the sketches keep what is not stored in their histories',
      );
      this.#storage = state;
      this.#storageError = oneLine(err);
      this.#options.onStorage(state);
    }
    this.#retryIn(this.#retryDelay);
    this.#retryDelay = Math.min(STORAGE_RETRY_MAX_MS, this.#retryDelay * 2);
  }

  #retryIn(ms: number): void {
    if (this.#retryTimer || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retry();
    }, ms);
    this.#retryTimer.unref?.();
  }

  /** Tries to write again: evicts first when a size bound is set, then writes and deletes a probe. */
  #retry(): void {
    if (this.#closed) return;
    try {
      if (this.#options.maxSizeMB !== undefined) while (this.retainStep() > 0);
      this.#db.exec(`INSERT INTO storage_probe (b) VALUES (zeroblob(${PROBE_BYTES})); DELETE FROM storage_probe;`);
    } catch (err) {
      const state = storageState(err);
      if (!state) throw err;
      this.#failed(state, err);
      return;
    }
    this.#options.log(`${this.file} takes writes again: resuming`);
    this.#storage = 'ok';
    this.#storageError = undefined;
    this.#retryDelay = this.#options.retryMs;
    this.#options.onStorage('ok');
  }

  /** Runs retention steps on the next turns of the event loop while one is due. */
  #retainSoon(): void {
    if (this.#retaining || (this.#options.keepSeconds === undefined && this.#options.maxSizeMB === undefined)) return;
    this.#retaining = setImmediate(() => {
      this.#retaining = undefined;
      if (!this.#closed && this.retainStep() > 0) this.#retainSoon();
    });
  }

  /**
   * One retention step: deletes at most `retentionStep` of the oldest items (by sample time)
   * that are older than `keepSeconds` or, while the data in use passes `maxSizeMB`, the oldest
   * items; gaps and rollup buckets older than the oldest item left go with them; freed pages are given back to
   * the file system (incremental vacuum) in the same small steps.
   * @returns the items deleted (0: nothing is due).
   */
  retainStep(): number {
    const { keepSeconds, maxSizeMB, retentionStep } = this.#options;
    let n = 0;
    // Oldest first: each series' oldest item through samples_by_time, then the oldest series' items.
    const oldestSeries = this.#prepare<{ id: number; t: number }>(
      'SELECT id, t FROM (SELECT id, (SELECT min(time) FROM samples WHERE series = s.id) AS t FROM series s) WHERE t IS NOT NULL ORDER BY t LIMIT 1',
    );
    const deleteOldest = (series: number, before: number, limit: number) =>
      this.#prepare('DELETE FROM samples WHERE series = ? AND seq IN (SELECT seq FROM samples WHERE series = ? AND time < ? ORDER BY time LIMIT ?)').run(series, series, before, limit).changes;
    if (keepSeconds !== undefined) {
      // Moved back by the clock's forward steps within the window: a step ahead purges nothing young.
      const cutoff = this.#options.now() - keepSeconds - this.#options.steppedAhead(keepSeconds * 1000) / 1000;
      for (let oldest = oldestSeries.get(); oldest && oldest.t < cutoff && n < retentionStep; oldest = oldestSeries.get()) {
        n += deleteOldest(oldest.id, cutoff, retentionStep - n);
      }
    }
    if (n === 0 && maxSizeMB !== undefined && this.usedBytes > maxSizeMB * 1e6) {
      const oldest = oldestSeries.get();
      if (oldest) n = deleteOldest(oldest.id, Infinity, retentionStep);
    }
    if (n > 0) {
      this.#deleted += n;
      const oldest = oldestSeries.get()?.t;
      this.#prepare('DELETE FROM gaps WHERE time < ?').run(oldest ?? Infinity);
      this.#prepare('DELETE FROM rollups WHERE bucket < ? AND bucket + width <= ?').run(oldest ?? Infinity, oldest ?? Infinity);
      this.#db.pragma(`incremental_vacuum(${Math.max(16, retentionStep / 8) | 0})`);
    }
    return n;
  }

  /** Every recorded stream, sorted by sketch and stream (`GET /recorded`). */
  recorded(): RecordedStream[] {
    const groups = this.#prepare<{ sketch: string; stream: string; count: number; first: number; last: number }>(
      `SELECT sketch, stream, sum((SELECT count(*) FROM samples WHERE series = s.id)) AS count,
         min((SELECT min(time) FROM samples WHERE series = s.id)) AS first, max((SELECT max(time) FROM samples WHERE series = s.id)) AS last
       FROM series s GROUP BY sketch, stream HAVING count > 0 ORDER BY sketch, stream`,
    )
      .all();
    return groups.map((g) => {
      const newest = this.last(g.sketch, g.stream)!;
      return { sketch: g.sketch, kind: newest.kind, stream: g.stream, count: g.count, first: g.first, last: g.last, epoch: newest.epoch, seq: newest.seq };
    });
  }

  /** The newest item recorded of one stream: the highest seq of the epoch whose item has the newest sample time; undefined when none. */
  last(sketch: string, stream: string): { kind: string; epoch: string; seq: number; time: number } | undefined {
    // The epoch of the newest row by time, then that epoch's highest seq (the primary key): after
    // a backward step of the wall clock the newest by time is not the last stored.
    const newest = this.#prepare<{ id: number; kind: string; epoch: string }>(
      `SELECT id, kind, epoch, (SELECT max(time) FROM samples WHERE series = s.id) AS t FROM series s
       WHERE sketch = ? AND stream = ? AND t IS NOT NULL ORDER BY t DESC, id DESC LIMIT 1`,
    )
      .get(sketch, stream);
    if (!newest) return undefined;
    const row = this.#prepare<{ seq: number; time: number }>('SELECT seq, time FROM samples WHERE series = ? ORDER BY seq DESC LIMIT 1').get(newest.id)!;
    return { kind: newest.kind, epoch: newest.epoch, seq: row.seq, time: row.time };
  }

  /**
   * Answers a history query: the items of one stream sampled in `[since, until]`, decimated
   * by min/max per time bucket to at most `maxPoints` points (see `decimate()`), or raw rows.
   * @returns undefined when that stream was never recorded.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for `maxPoints` out of bounds or `since > until`.
   */
  history(q: HistoryQuery): HistoryAnswer | undefined {
    const until = q.until ?? this.#options.now();
    const since = q.since ?? until - DEFAULT_HISTORY_SECONDS;
    const maxPoints = q.maxPoints ?? DEFAULT_MAX_POINTS;
    if (!Number.isInteger(maxPoints) || maxPoints < 1 || maxPoints > MAX_POINTS) {
      throw errors.INVALID_OPTION(`max_points must be a whole number from 1 to ${MAX_POINTS}, got ${maxPoints}`);
    }
    if (since > until) throw errors.INVALID_OPTION(`since (${since}) is after until (${until})`);
    const newest = this.last(q.sketch, q.stream);
    if (!newest) return undefined;
    const where = 'WHERE sketch = ? AND stream = ? AND time >= ? AND time <= ?';
    const args = [q.sketch, q.stream, since, until];
    const range = this.#range(q.sketch, q.stream, since, until);
    const count = this.#prepare<{ n: number }>(`SELECT count(*) AS n FROM samples ${range.where}`).get(...range.args)!.n;
    const gaps = this.#prepare<{ epoch: string; from: number; to: number; reason: string; time: number }>(
      `SELECT epoch, from_seq AS "from", to_seq AS "to", reason, time FROM gaps ${where} ORDER BY time, id`,
    )
      .all(...args);
    const answer: HistoryAnswer = { sketch: q.sketch, stream: q.stream, since, until, count, decimated: false, gaps, last: { epoch: newest.epoch, seq: newest.seq, time: newest.time } };
    if (q.raw) {
      const rows = this.#prepare<[number, number, number, number, number, string | null, string | null]>(
        `SELECT series, seq, time, published, received, data, patch FROM samples ${range.where} ORDER BY time, seq LIMIT ?`,
        true,
      )
        .all(...range.args, maxPoints) as Array<[number, number, number, number, number, string | null, string | null]>;
      answer.rows = rows.map(([series, seq, time, published, received, data, patch]) => {
        const s = this.#series(series);
        return { epoch: s.epoch, seq, time, published: atUs(time, published), received: atUs(time, received), data: s.codec.decode({ data, patch }, time) };
      });
      return answer;
    }
    const out = (count > maxPoints && this.#fromRollups(q.sketch, q.stream, since, until, maxPoints)) || this.#fromItems(range, maxPoints);
    answer.decimated = out.time.length < count;
    answer.fields = Object.keys(out.values);
    answer.time = out.time;
    answer.values = out.values;
    return answer;
  }

  /**
   * The WHERE clause picking one stream's items sampled in `[since, until]` from `samples`: one
   * `series = ?` per epoch, so that each is a range of samples_by_time.
   */
  #range(sketch: string, stream: string, since: number, until: number, cmp: [string, string] = ['>=', '<=']): { where: string; args: unknown[] } {
    const ids = this.#seriesOf(sketch, stream);
    if (ids.length === 0) return { where: 'WHERE 0', args: [] };
    return {
      where: `WHERE series IN (${ids.map(() => '?').join(', ')}) AND time ${cmp[0]} ? AND time ${cmp[1]} ?`,
      args: [...ids, since, until],
    };
  }

  /** Rows `[series, time, data, patch]` of a range, oldest first, decoded to `{time, data}`. */
  #decoded(range: { where: string; args: unknown[] }, order = 'ORDER BY time, seq'): Array<{ time: number; data: unknown }> {
    // all() then one pass: iterate() and a generator cost ~1.7× as much on 36 000 rows (bench case 11).
    const rows = this.#prepare<[number, number, string | null, string | null]>(`SELECT series, time, data, patch FROM samples ${range.where} ${order}`, true)
      .all(...range.args) as Array<[number, number, string | null, string | null]>;
    let last: SeriesRow | undefined;
    return rows.map(([series, time, data, patch]) => {
      if (last?.id !== series) last = this.#series(series);
      return { time, data: data !== null ? parseJson(data) : last.codec.decode({ data, patch }, time) };
    });
  }

  /** Decimates every item in the range. */
  #fromItems(range: { where: string; args: unknown[] }, maxPoints: number): Series {
    return decimate(toSeries(this.#decoded(range)), maxPoints);
  }

  /**
   * Decimates from the rollups: the widest {@link ROLLUP_WIDTHS} bucket not wider than the
   * answer's own buckets; its minima and maxima (at their sample times) for the whole buckets
   * inside the range, every item for the partial buckets at its two ends, then `decimate()`.
   * Every peak of the range survives; a bucket of the answer may show a rollup's extreme in
   * place of a smaller local one of its own. Undefined when no rollup width fits or the range
   * begins before the rollups do (a file written before them): then the items are decimated.
   */
  #fromRollups(sketch: string, stream: string, since: number, until: number, maxPoints: number): Series | undefined {
    const edge = (order: 'ASC' | 'DESC') => this.#decoded(this.#range(sketch, stream, since, until), `ORDER BY time ${order} LIMIT 1`)[0];
    const first = edge('ASC');
    const last = edge('DESC');
    if (!first || !last || first.time < this.#rollupsFrom) return undefined;
    const fields = numericFields(last.data).length || 1;
    const buckets = Math.floor(maxPoints / (2 * fields));
    const own = buckets > 0 ? (last.time - first.time) / buckets : 0;
    const width = ROLLUP_WIDTHS.filter((w) => w <= own).at(-1);
    if (width === undefined) return undefined;
    const inner = Math.ceil(first.time / width) * width; // first whole bucket
    const end = bucketOf(last.time, width); // the partial bucket holding the last item
    if (inner >= end) return undefined;
    const candidates: Candidate[] = [];
    const fromItems = (cmp: [string, string], from: number, to: number) => {
      for (const { time, data } of this.#decoded(this.#range(sketch, stream, from, to, cmp))) {
        for (const [field, value] of numericFields(data)) candidates.push({ time, field, value });
      }
    };
    fromItems(['>=', '<'], first.time, inner);
    const order = candidates.map((c) => c.field).filter((f, i, all) => all.indexOf(f) === i);
    const rows = this.#prepare<Pick<RollupRow, 'field' | 'lo' | 'loTime' | 'hi' | 'hiTime'>>(
      'SELECT field, lo, lo_time AS loTime, hi, hi_time AS hiTime FROM rollups WHERE sketch = ? AND stream = ? AND width = ? AND bucket >= ? AND bucket < ?',
    )
      .all(sketch, stream, width, inner, end);
    candidates.push(...candidatesOf(rows));
    fromItems(['>=', '<='], end, until);
    return decimate(seriesOf(candidates, order), maxPoints);
  }

  /**
   * The items chosen, oldest sample first, one at a time (`stmt.iterate()`: never all in
   * memory). The connection is busy until the iteration ends.
   */
  select(s: Selection = {}): IterableIterator<RecordItem> {
    const [where, args] = selection(s);
    // Every series first: none may be read while the connection iterates.
    for (const { id } of this.#prepare<{ id: number }>('SELECT id FROM series').all()) this.#series(id);
    const rows = this.#db
      .prepare<[number, number, number, number, number, string | null, string | null]>(
        `SELECT i.series, i.seq, i.time, i.published, i.received, i.data, i.patch FROM samples i JOIN series s ON s.id = i.series ${where} ORDER BY i.time, i.seq`,
      )
      .raw()
      .iterate(...args) as IterableIterator<[number, number, number, number, number, string | null, string | null]>;
    const byId = this.#seriesById;
    return (function* () {
      for (const [series, seq, time, published, received, data, patch] of rows) {
        const { sketch, kind, stream, epoch, codec } = byId.get(series)!;
        yield { sketch, kind, stream, epoch, seq, time, published: atUs(time, published), received: atUs(time, received), data: codec.text({ data, patch }, time) };
      }
    })();
  }

  /** The distinct sketches and streams in a selection, with each sketch's newest kind. */
  streams(s: Selection = {}): Array<{ sketch: string; kind: string; stream: string }> {
    const [where, args] = selection(s);
    return this.#prepare<{ sketch: string; kind: string; stream: string }>(
      `SELECT s.sketch, (SELECT kind FROM series k WHERE k.sketch = s.sketch ORDER BY id DESC LIMIT 1) AS kind, s.stream
       FROM samples i JOIN series s ON s.id = i.series ${where} GROUP BY s.sketch, s.stream ORDER BY s.sketch, s.stream`,
    )
      .all(...args);
  }

  /** Writes the queue and closes the database. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#retaining) clearImmediate(this.#retaining);
    clearTimeout(this.#retryTimer);
    this.#db.close();
  }
}

function selection(s: Selection): [string, unknown[]] {
  const parts: string[] = [];
  const args: unknown[] = [];
  if (s.sketch !== undefined) parts.push('s.sketch = ?'), args.push(s.sketch);
  if (s.stream !== undefined) parts.push('s.stream = ?'), args.push(s.stream);
  if (s.since !== undefined) parts.push('i.time >= ?'), args.push(s.since);
  if (s.until !== undefined) parts.push('i.time <= ?'), args.push(s.until);
  return [parts.length ? `WHERE ${parts.join(' AND ')}` : '', args];
}

/**
 * From when the rollups are complete (s): a new file, or one without items, from the start; a
 * file written before rollups existed, from the next minute after its newest item.
 */
function rollupsFrom(db: Database, table: 'items' | 'samples'): number {
  const stored = db.prepare<{ value: number }>("SELECT value FROM meta WHERE key = 'rollups_from'").get();
  if (stored) return stored.value;
  const newest = db.prepare<{ t: number | null }>(`SELECT max(time) AS t FROM ${table}`).get()?.t;
  const from = newest === null || newest === undefined ? 0 : bucketOf(newest, 60) + 60;
  db.prepare("INSERT INTO meta (key, value) VALUES ('rollups_from', ?)").run(from);
  return from;
}

/** An item's data as JSON text: `data`, else its `value` stringified (`null` when that gives nothing). */
function textOf(i: RecordInput): string {
  return i.data ?? JSON.stringify(i.value) ?? 'null';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Opens a recorder database that must already exist (for `sketch export` and `sketch replay`,
 * which read what a recorder wrote and never create an empty file).
 * @throws SketchError `SKETCH_ERR_RECORD_DB` when `file` does not exist or is not a recorder
 *   database; `SKETCH_ERR_ADDON` when better-sqlite3 cannot be loaded.
 */
export function openRecorded(file: string): RecordStore {
  if (!existsSync(file)) throw errors.RECORD_DB(file, 'no such file');
  return new RecordStore({ file });
}

