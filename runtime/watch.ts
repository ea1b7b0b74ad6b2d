/**
 * Reload on save (`sketch run FILE --watch`): watches a sketch's file and, when it changes,
 * loads the new class and swaps it in place (runtime/reload.ts), so that the port, the mDNS
 * name, every stream's history and every connection stay. A file that fails to load keeps the
 * running version, with one line saying where (`FILE:LINE:COLUMN: …`); a `setup()` that throws
 * rolls back to it.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { oneLine } from './errors.js';
import { reloadInPlace, type ReloadOutcome } from './reload.js';
import type { Sketch } from './sketch.js';
import type { SketchClass, SketchConfig } from './sketch-config.js';

/** Default {@link WatchOptions.debounceMs}: 100 ms. */
export const WATCH_DEBOUNCE_MS = 100;

/** Options of {@link SketchWatcher}. */
export interface WatchOptions {
  /** The instance running the file now (`sketch run`); `sketch up` passes none and swaps through its host. */
  current?: Sketch;
  /** Where the watcher's lines go when there is no `current`: `sketch up`'s own log. */
  log?: Pick<Sketch['log'], 'info' | 'warn'>;
  /** The sketch's file. Its folder is watched (editors often save by writing a new file and renaming it). */
  file: string;
  /** Loads the class from the file as it is now; `version` (1, 2, …) makes each load a new module. Rejects with a `SketchError` (`SKETCH_ERR_SKETCH_SYNTAX`: `FILE:LINE:COLUMN`). */
  load(version: number): Promise<SketchClass>;
  /** The config every version is built with (the same as the first). */
  config: SketchConfig;
  /** Quiet time after the last change before reloading, ms. Default {@link WATCH_DEBOUNCE_MS}. */
  debounceMs?: number;
  /** Called once a new version serves (after a reload or a rollback), e.g. to start its `main()`. */
  onSwapped?(sketch: Sketch, outcome: ReloadOutcome): void;
  /** Swaps `next` in: default `reloadInPlace(current, next, config)`; `sketch up` goes through its host (`SketchHost.reload`). Undefined: not running now. */
  swap?(next: SketchClass, current: Sketch): Promise<ReloadOutcome | undefined>;
}

/** See the module comment. */
export class SketchWatcher {
  #current?: Sketch;
  readonly #o: Required<Pick<WatchOptions, 'file' | 'load' | 'config' | 'debounceMs' | 'swap'>> & WatchOptions;
  readonly #watcher: FSWatcher;
  #timer?: NodeJS.Timeout;
  #version = 0;
  /** The reload under way; another change waits for it. */
  #busy: Promise<void> = Promise.resolve();
  #closed = false;

  /** @throws Error when `options.swap` is not given and neither is `options.current`. */
  constructor(options: WatchOptions) {
    this.#current = options.current;
    this.#o = { debounceMs: WATCH_DEBOUNCE_MS, swap: (next, current) => reloadInPlace(current!, next, options.config), ...options };
    if (!options.swap && !options.current) throw new Error('SketchWatcher: give current or swap');
    const base = path.basename(options.file);
    this.#watcher = watch(path.dirname(options.file), (_event, name) => {
      if (name === null || name === base) this.#changed();
    });
    this.#watcher.unref();
  }

  /** The instance serving now (as far as this watcher swapped it). */
  get current(): Sketch | undefined {
    return this.#current;
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#busy = this.#busy.then(() => this.reload()).then(() => undefined);
    }, this.#o.debounceMs);
  }

  /** Loads the file and swaps the new version in (what a change triggers); resolves when done. */
  async reload(): Promise<ReloadOutcome | undefined> {
    if (this.#closed) return undefined;
    const log = this.#o.log ?? this.#current!.log;
    let next: SketchClass;
    try {
      next = await this.#o.load(++this.#version);
    } catch (err) {
      log.warn(`${oneLine(err)}: still running the previous version`);
      return undefined;
    }
    if (this.#closed) return undefined;
    const outcome = await this.#o.swap(next, this.#current!);
    if (!outcome) {
      log.warn(`${path.basename(this.#o.file)} not reloaded: the sketch is not running now`);
      return undefined;
    }
    const file = path.basename(this.#o.file);
    if (outcome.result === 'refused') log.warn(`${file} not reloaded: ${outcome.reason}; still running the previous version`);
    else if (outcome.result === 'rolledBack') outcome.sketch.log.warn(`${file}: setup() failed (${outcome.reason}): rolled back to the previous version`);
    else outcome.sketch.log.info(`reloaded ${file} (messages held ${outcome.pauseMs.toFixed(1)} ms)`);
    if (outcome.result !== 'refused') {
      this.#current = outcome.sketch;
      this.#o.onSwapped?.(outcome.sketch, outcome);
    }
    return outcome;
  }

  /** Stops watching (the sketch keeps running: close it with `current.close()`). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher.close();
  }
}
