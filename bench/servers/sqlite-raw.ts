/**
 * The recorder's peer in case 11: bare better-sqlite3 batched inserts of the same rows, into
 * the same schema, with nothing else around them (no WebSocket, no JSON, no queue).
 *
 *   --from FILE   a recorder database (opened read-only): its `samples` rows, as stored (data
 *                 already a patch against the series' base), are what is inserted; its `series`
 *                 rows are copied first (not timed)
 *   --to FILE     a fresh file: `RecordStore` creates the recorder's schema in it and is closed;
 *                 then one prepared `INSERT OR IGNORE` (the store's own statement), in
 *                 transactions of `--batch` rows (default 500, the store's `batchItems`), with
 *                 the store's pragmas (WAL, `synchronous = NORMAL`)
 *
 * Loads every row into memory first (not timed), then on `go` inserts them and reports
 * `{"raw":{rows, inserted, ms, cpuUs}}` (ms: first BEGIN to last COMMIT; cpuUs: this process's
 * CPU time in the same span). Prints `{"ready":{"rows":N}}` once loaded; answers `stats`.
 */
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../../dist/runtime/recorder/sqlite.js';
import { RecordStore } from '../../dist/runtime/recorder/store.js';
import { args, fail, onCommand, report, serveStats } from '../lib/child.js';

type Row = [number, number, number, number, number, string | null, string | null];

const a = args({ from: '', to: '', batch: '500' });

try {
  if (!a.from || !a.to) throw new Error('usage: sqlite-raw.ts --from RECORDER_DB --to NEW_FILE [--batch 500]');
  const batch = Number(a.batch);
  const source = openDatabase(a.from, { readonly: true, fileMustExist: true });
  const rows = source
    .prepare('SELECT series, seq, time, published, received, data, patch FROM samples ORDER BY time')
    .raw()
    .all() as Row[];
  const series = source.prepare('SELECT id, sketch, stream, epoch, kind, base, time_key FROM series').raw().all() as unknown[][];
  source.close();

  new RecordStore({ file: a.to }).close(); // the recorder's schema, indexes and file settings
  const db = openDatabase(a.to);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const copy = db.prepare('INSERT INTO series (id, sketch, stream, epoch, kind, base, time_key) VALUES (?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => series.forEach((r) => copy.run(...r)))();
  const insert = db.prepare('INSERT OR IGNORE INTO samples (series, seq, time, published, received, data, patch) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const write = db.transaction((chunk: Row[]) => {
    let n = 0;
    for (const r of chunk) n += insert.run(...r).changes;
    return n;
  });

  serveStats();
  onCommand('go', () => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let inserted = 0;
    for (let i = 0; i < rows.length; i += batch) inserted += write(rows.slice(i, i + batch));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    db.close();
    report('raw', { rows: rows.length, inserted, ms, cpuUs: cpu.user + cpu.system });
  });
  report('ready', { rows: rows.length });
} catch (err) {
  fail(err);
}
