/**
 * better-sqlite3, loaded through `require` with the few types sketchnet uses (the package ships
 * no TypeScript declarations and none are installed). Only this module touches the addon, so a
 * failure to load it is turned into one `SKETCH_ERR_ADDON` line here.
 */
import { createRequire } from 'node:module';
import { addonError } from '../addon.js';

/** A prepared statement (better-sqlite3 `Statement`): bind parameters positionally or by name. */
export interface Statement<R = unknown> {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): R | undefined;
  all(...params: unknown[]): R[];
  /** Rows one at a time: the connection is busy until the iterator ends or `return()`s. */
  iterate(...params: unknown[]): IterableIterator<R>;
  /** Rows as arrays of values instead of objects. */
  raw(toggle?: boolean): Statement<unknown[]>;
}

/** An open database connection (better-sqlite3 `Database`). */
export interface Database {
  prepare<R = unknown>(sql: string): Statement<R>;
  exec(sql: string): Database;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Wraps `fn` in BEGIN/COMMIT (ROLLBACK when it throws); `fn` must be synchronous. */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): Database;
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly name: string;
}

type DatabaseConstructor = new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

let loaded: DatabaseConstructor | undefined;

/**
 * Which better-sqlite3 this Node.js loads. 12.x derives its Statement and Database from
 * `node::ObjectWrap`, whose destructor aborts the process on Node.js ≥ 24.19 when a statement
 * is garbage-collected outside a JS context (`Assertion failed: (env) != nullptr` in
 * `RemoveEnvironmentCleanupHook`, nodejs/node#65446; seen here in CI on 24.21 as `sketch
 * export` exited); 13.x moved to Node-API and does not, but needs Node.js ≥ 22 (it crashes on
 * 20). So package.json installs both: `better-sqlite3` (13.x) for Node.js 22 and later, and
 * `better-sqlite3-v12` (an npm alias of 12.x) for Node.js 20. 13.x is an optional dependency:
 * npm skips it silently on Node.js 20 (a plain dependency printed `EBADENGINE` on every install
 * there) and installs it on 22 and later.
 */
export const SQLITE_PACKAGE = Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3' : 'better-sqlite3-v12';

/**
 * Opens (creating it unless `fileMustExist`) the SQLite database `file`.
 * @throws SketchError `SKETCH_ERR_ADDON` when better-sqlite3's compiled part cannot be loaded;
 *   better-sqlite3's own `SqliteError` when the file cannot be opened.
 */
export function openDatabase(file: string, options: { readonly?: boolean; fileMustExist?: boolean } = {}): Database {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)(SQLITE_PACKAGE) as DatabaseConstructor;
    } catch (err) {
      throw addonError(err) ?? err;
    }
  }
  try {
    return new loaded(file, options);
  } catch (err) {
    throw addonError(err) ?? err;
  }
}
