/**
 * The spool: an {@link OutboxStore} in SQLite, so that what a producer holds for an absent
 * receiver survives a restart, a SIGKILL or a power cut (`--spool FILE`).
 *
 * One table `outbox (queue, id, item)` per file, one queue per peer; every call is one statement
 * (better-sqlite3 is synchronous, as the contract asks). WAL with `synchronous = NORMAL`: a
 * process killed at any moment loses nothing committed; a power cut can lose the last
 * transactions not yet checkpointed to the disk by the WAL's fsync at checkpoint — the items
 * pushed in roughly the last second (SQLite, "Write-Ahead Logging" §"Performance
 * Considerations": NORMAL syncs the WAL at checkpoints only). The file is never corrupted
 * (SQLite's "How To Corrupt An SQLite Database File": WAL plus a working fsync).
 */
import { errors, oneLine } from '../errors.js';
import { openDatabase, type Database, type Statement } from '../recorder/sqlite.js';
import type { OutboxStore } from './outbox.js';

/**
 * Opens (creating it) a spool file with its settings — 1 KiB pages for a new file (each commit
 * appends its changed pages to the WAL: small pages wear an SD card less), WAL, `synchronous =
 * NORMAL` — then runs `schema` (SQL) and `then(db)`. Shared by every store in the file.
 * @throws SketchError `SKETCH_ERR_RECORD_DB` when the file cannot be opened as a spool;
 *   `SKETCH_ERR_ADDON` when better-sqlite3 cannot be loaded.
 */
export function openSpool(file: string, schema: string, then?: (db: Database) => void): Database {
  let db: Database | undefined;
  try {
    db = openDatabase(file);
    db.pragma('page_size = 1024'); // a new file only
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(schema);
    then?.(db);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof Error && err.name === 'SketchError') throw err;
    throw errors.RECORD_DB(file, oneLine(err));
  }
}

/** See the module comment. */
export class SqliteOutboxStore implements OutboxStore {
  /** The file, as given. */
  readonly file: string;
  /** The queue in it: one per peer (`--to`), so one spool file serves a sketch's every outbox. */
  readonly queue: string;
  readonly #db: Database;
  readonly #put: Statement;
  readonly #get: Statement;
  readonly #del: Statement;
  readonly #oldest: Statement;
  readonly #newest: Statement;
  readonly #count: Statement;
  #size: number;
  #bytes: number;

  /**
   * Opens (creating it) the spool `file`.
   * @throws SketchError `SKETCH_ERR_RECORD_DB` when the file cannot be opened as a spool;
   *   `SKETCH_ERR_ADDON` when better-sqlite3 cannot be loaded.
   */
  constructor(file: string, queue = '') {
    this.file = file;
    this.queue = queue;
    const db = openSpool(file, 'CREATE TABLE IF NOT EXISTS outbox (queue TEXT NOT NULL, id INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (queue, id)) WITHOUT ROWID');
    this.#db = db;
    this.#put = db.prepare('INSERT OR REPLACE INTO outbox (queue, id, item) VALUES (?, ?, ?)');
    this.#get = db.prepare('SELECT item FROM outbox WHERE queue = ? AND id = ?');
    this.#del = db.prepare('DELETE FROM outbox WHERE queue = ? AND id = ? RETURNING item');
    this.#oldest = db.prepare('SELECT id FROM outbox WHERE queue = ? AND id > ? ORDER BY id LIMIT ?');
    this.#newest = db.prepare('SELECT max(id) AS id FROM outbox WHERE queue = ?');
    this.#count = db.prepare('SELECT count(*) AS n, sum(length(CAST(item AS BLOB))) AS bytes FROM outbox WHERE queue = ?');
    const held = this.#count.get(queue) as { n: number; bytes: number | null };
    this.#size = held.n;
    this.#bytes = held.bytes ?? 0;
  }

  put(id: number, item: string): void {
    const had = this.get(id);
    this.#put.run(this.queue, id, item);
    if (had === undefined) this.#size++;
    else this.#bytes -= Buffer.byteLength(had);
    this.#bytes += Buffer.byteLength(item);
  }

  get(id: number): string | undefined {
    return (this.#get.get(this.queue, id) as { item: string } | undefined)?.item;
  }

  del(id: number): string | undefined {
    const row = this.#del.get(this.queue, id) as { item: string } | undefined;
    if (row) {
      this.#size--;
      this.#bytes -= Buffer.byteLength(row.item);
    }
    return row?.item;
  }

  oldest(limit: number, after = 0): number[] {
    return (this.#oldest.all(this.queue, after, limit) as Array<{ id: number }>).map((r) => r.id);
  }

  newest(): number | undefined {
    return (this.#newest.get(this.queue) as { id: number | null }).id ?? undefined;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of the items held (UTF-8 JSON text): what `--spool-max` bounds. */
  get bytes(): number {
    return this.#bytes;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
