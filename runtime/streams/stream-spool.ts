/**
 * The streams' part of the spool (`--spool FILE`): each stream's epoch, newest seq and history,
 * in the same SQLite file as the outboxes (runtime/streams/spool.ts), so that after a restart on
 * it a stream goes on in the same epoch with the next seq, and a subscriber's `?after_seq=S`
 * still gets what followed S.
 *
 * Two tables: `stream_epochs (path, epoch, boot)` and `stream_items (path, seq, time, published,
 * text, json)`. Every item is written when it is published, before any subscriber is handed it:
 * one transaction, the insert plus, when the history evicted some, the delete of at most
 * {@link TRIM_STEP} of the oldest rows. So the table holds the history's items (from its
 * `firstSeq`: bounded by its `items`, `maxBytes` and `maxAgeSeconds`) plus what the last steps
 * have not deleted yet; the newest row is never deleted, so the seq is kept even when the
 * history holds nothing.
 *
 * What can be lost. WAL with `synchronous = NORMAL`, as the outbox spool. A SIGKILL loses
 * nothing: each item reached the operating system before a subscriber saw it, and the stream
 * resumes exactly. A power cut (or a kernel crash) can lose the items written since the WAL was
 * last synced, the last second or so; resuming after that would give seqs a subscriber already
 * saw to other items. So a kept epoch is trusted only when it was last opened in this boot
 * (Linux's `boot_id`, elsewhere the boot time) or closed cleanly; any other is forgotten, and
 * its stream starts a new epoch at seq 1 with an empty history. Both marks are committed with
 * `synchronous = FULL` (the boot's when a stream opens, before its first item; the clean one at
 * close, after its last), and SQLite's WAL survives as a prefix: a mark on the disk means every
 * item before it is too. The file is never corrupted (WAL plus a working fsync).
 */
import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { errors, oneLine } from '../errors.js';
import type { Database, Statement } from '../recorder/sqlite.js';
import type { StreamItem } from './history.js';
import { openSpool } from './spool.js';

/** An item as a spool keeps it. */
export type KeptItem = Pick<StreamItem, 'seq' | 'time' | 'published' | 'text' | 'json'>;

/** What a stream takes back from its store when it is made. */
export interface KeptStream {
  /** The epoch to go on with: the kept one, or the `fresh` one given to {@link StreamStore.open}. */
  epoch: string;
  /** The newest seq published in that epoch (0: none). */
  lastSeq: number;
  /** The items kept, oldest first, contiguous, ending at `lastSeq` (none in a new epoch). */
  items: KeptItem[];
}

/**
 * Where streams keep their epoch, seq and history across restarts (a {@link StreamSpool}, or a
 * fake in tests). Synchronous, like the outbox store contract.
 */
export interface StreamStore {
  /** What was kept for the stream at `path` (trusted, see the module comment), else a new epoch `fresh` with nothing. */
  open(path: string, fresh: string): KeptStream;
  /**
   * Keeps `item`, just published on `path`, and forgets items before `firstSeq` (the history's
   * oldest). Call it before subscribers are handed the item.
   * @throws SketchError when it could not be kept: the stream then stops keeping items.
   */
  append(path: string, item: KeptItem, firstSeq: number): void;
  /** Marks every stream closed cleanly and closes the file. Safe to call twice. */
  close(): void;
}

/** Most rows deleted per publish: a burst of evictions is trimmed over the next publishes. */
export const TRIM_STEP = 64;

/** This boot of the machine: Linux's boot id, elsewhere the boot time to the second. */
function currentBoot(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `up-since-${Math.round(Date.now() / 1000 - uptime())}`; // a clock step reads as a new boot: a new epoch, never a reused seq
  }
}

/** See the module comment. */
export class StreamSpool implements StreamStore {
  /** The file, as given. */
  readonly file: string;
  readonly #db: Database;
  readonly #boot: string;
  readonly #insert: Statement;
  readonly #trim: Statement;
  /** The paths opened. */
  readonly #opened = new Set<string>();
  /** Oldest seq kept per path, once known. */
  readonly #oldest = new Map<string, number>();
  readonly #append: (path: string, item: KeptItem, firstSeq: number) => void;

  /**
   * Opens (creating it, or adding the tables to a spool written by an older version) `file`,
   * which may be `:memory:`. Epochs written in another boot and not closed cleanly are forgotten.
   * @param boot this boot's id; default the machine's (tests pass another to play a power cut).
   * @throws SketchError `SKETCH_ERR_RECORD_DB` when the file cannot be opened as a spool;
   *   `SKETCH_ERR_ADDON` when better-sqlite3 cannot be loaded.
   */
  constructor(file: string, boot = currentBoot()) {
    this.file = file;
    this.#boot = boot;
    const db = openSpool(
      file,
      `CREATE TABLE IF NOT EXISTS stream_epochs (path TEXT PRIMARY KEY, epoch TEXT NOT NULL, boot TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS stream_items (path TEXT NOT NULL, seq INTEGER NOT NULL, time REAL NOT NULL, published REAL NOT NULL,
          text TEXT NOT NULL, json TEXT, PRIMARY KEY (path, seq)) WITHOUT ROWID`,
      // epochs of another boot not closed cleanly may have lost their newest items
      (db) =>
        db.transaction(() => {
          db.prepare(`DELETE FROM stream_items WHERE path IN (SELECT path FROM stream_epochs WHERE boot NOT IN ('', ?))`).run(boot);
          db.prepare(`DELETE FROM stream_epochs WHERE boot NOT IN ('', ?)`).run(boot);
        })(),
    );
    this.#db = db;
    this.#insert = db.prepare('INSERT OR REPLACE INTO stream_items (path, seq, time, published, text, json) VALUES (?, ?, ?, ?, ?, ?)');
    this.#trim = db.prepare('DELETE FROM stream_items WHERE path = ? AND seq < ?');
    this.#append = db.transaction((path: string, item: KeptItem, firstSeq: number) => {
      this.#insert.run(path, item.seq, item.time, item.published, item.text, item.json === item.text ? null : item.json);
      const oldest = this.#oldest.get(path) ?? item.seq;
      const upTo = Math.min(firstSeq, item.seq, oldest + TRIM_STEP); // the newest row stays: it holds the seq
      if (upTo > oldest) this.#trim.run(path, upTo);
      this.#oldest.set(path, Math.max(oldest, upTo));
    });
  }

  open(path: string, fresh: string): KeptStream {
    const db = this.#db;
    this.#opened.add(path);
    const kept = db.prepare('SELECT epoch FROM stream_epochs WHERE path = ?').get(path) as { epoch: string } | undefined;
    if (!kept) {
      db.transaction(() => {
        db.prepare('DELETE FROM stream_items WHERE path = ?').run(path);
        db.prepare('INSERT INTO stream_epochs (path, epoch, boot) VALUES (?, ?, ?)').run(path, fresh, this.#boot);
      })();
      return { epoch: fresh, lastSeq: 0, items: [] };
    }
    // Items of this boot follow: the epoch must be marked this boot's on the disk before them.
    db.pragma('synchronous = FULL');
    db.prepare('UPDATE stream_epochs SET boot = ? WHERE path = ?').run(this.#boot, path);
    db.pragma('synchronous = NORMAL');
    const rows = db.prepare('SELECT seq, time, published, text, json FROM stream_items WHERE path = ? ORDER BY seq').all(path) as Array<Omit<KeptItem, 'json'> & { json: string | null }>;
    if (rows.length) this.#oldest.set(path, rows[0]!.seq);
    let from = rows.length - 1; // the contiguous run that ends at the newest
    while (from > 0 && rows[from - 1]!.seq === rows[from]!.seq - 1) from--;
    const items = rows.slice(Math.max(from, 0)).map((r) => ({ ...r, json: r.json ?? r.text }));
    return { epoch: kept.epoch, lastSeq: items.at(-1)?.seq ?? 0, items };
  }

  append(path: string, item: KeptItem, firstSeq: number): void {
    if (!this.#db.open) return;
    try {
      this.#append(path, item, firstSeq);
    } catch (err) {
      // Without this item a restart would give its seq to another one: forget the epoch instead.
      let next = 'the next start begins a new epoch';
      try {
        this.#db.prepare('DELETE FROM stream_epochs WHERE path = ?').run(path);
      } catch {
        next = 'its epoch could not be forgotten either: after a restart its seqs from here may repeat';
      }
      throw errors.RECORD_DB(this.file, `stream ${path}: seq ${item.seq} not kept (${oneLine(err)}), nor what follows; ${next}`);
    }
  }

  close(): void {
    if (!this.#db.open) return;
    try {
      this.#db.pragma('synchronous = FULL'); // the mark reaches the disk, and so every item written before it
      const clean = this.#db.prepare(`UPDATE stream_epochs SET boot = '' WHERE path = ? AND boot = ?`);
      this.#db.transaction(() => {
        for (const path of this.#opened) clean.run(path, this.#boot);
      })();
    } catch {
      // not marked: after a reboot these streams begin new epochs
    }
    this.#db.close();
  }
}
