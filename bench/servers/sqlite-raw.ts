/**
 * The recorder's peer in case 11: bare better-sqlite3 batched inserts of the same rows, into
 * the same schema, with nothing else around them (no WebSocket, no JSON, no queue).
 *
 *   --from FILE   a recorder database (opened read-only): its `items` rows are what is inserted
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

type Row = [string, string, string, string, number, number, number, number, string];

const a = args({ from: '', to: '', batch: '500' });

try {
  if (!a.from || !a.to) throw new Error('usage: sqlite-raw.ts --from RECORDER_DB --to NEW_FILE [--batch 500]');
  const batch = Number(a.batch);
  const source = openDatabase(a.from, { readonly: true, fileMustExist: true });
  const rows = source
    .prepare('SELECT sketch, kind, stream, epoch, seq, time, published, received, data FROM items ORDER BY id')
    .raw()
    .all() as Row[];
  source.close();

  new RecordStore({ file: a.to }).close(); // the recorder's schema, indexes and file settings
  const db = openDatabase(a.to);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(
    'INSERT OR IGNORE INTO items (sketch, kind, stream, epoch, seq, time, published, received, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
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
