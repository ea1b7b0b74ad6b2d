import type http from 'node:http';
import { errors, MdnsDiscovery, Sketch, type Discovery, type FoundSketch, type OptionValues, type SketchConfig, type SketchStatus } from '../runtime/index.js';
import { fetchStatus } from '../runtime/discovery/status.js';
import { oneLine } from '../runtime/errors.js';
import { watchSketches, type SketchWatch } from '../runtime/discovery/watch.js';
import { HISTORY_PATH, RECORDED_PATH, serveRecorder } from '../runtime/recorder/http.js';
import { sendText, type HttpRoutes } from '../runtime/net/routes.js';
import { RecordStore } from '../runtime/recorder/store.js';
import { StreamSubscriber, type StreamSubscriberStatus } from '../runtime/streams/subscriber.js';

const options = {
  db: { type: 'string', describe: 'SQLite database file to record into (created when missing); required' },
  keep: { type: 'string', describe: 'delete items sampled longer ago than this: 7d, 12h, 30m, 90s or seconds (default: keep all)' },
  maxSize: { type: 'number', min: 0.01, describe: 'delete the oldest items while the data passes this many MB (10^6 bytes; default: no limit)' },
  flush: { type: 'number', min: 0, max: 60, default: 1, describe: 'seconds a received item waits before its batch is written: each write wears an SD card (1: ~2 GB a day written for a 10 Hz stream, 5: ~0.5 GB); nothing waiting is lost when the recorder is killed' },
  rescan: { type: 'number', min: 0.1, default: 5, describe: 'seconds between mDNS browses for sketches coming and going' },
} as const;

/** Kinds never recorded: other recorders and dashboards (they republish what they see). */
export const NOT_RECORDED = ['recorder', 'dashboard'] as const;

/**
 * Items a recorded stream may have on their way to the recorder (`?credit=N`, credit-based flow
 * control, granted again half at a time as items are queued for writing): 1000, the most a
 * sketch grants by default (`maxCredit`). What the recorder has not taken yet waits in the
 * sketch's history, where a recorder that is behind (a slow SD card, a burst) stays subscribed
 * as long as the history still holds its next item, instead of being closed with 1013 once its
 * data is `staleAfterMs` old and then resuming after a reconnect.
 */
export const RECORDER_CREDIT = 1000;

/** How long the status of a found sketch may take to answer (for its streams), in ms. */
const STATUS_TIMEOUT_MS = 3000;

/**
 * `--keep`: `7d`, `12h`, `30m`, `90s` or a bare number of seconds.
 * @returns seconds, or undefined when `text` is none of those (or not > 0).
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2]!.toLowerCase() as '' | 's'];
  const seconds = Number(m[1]) * unit;
  return seconds > 0 ? seconds : undefined;
}

/**
 * The recorder: finds every sketch over mDNS as it comes and goes, subscribes to each stream
 * it announces (TXT `streams=`) or lists in its status, and stores every item in SQLite
 * (runtime/recorder/store.ts), resuming after the newest stored item on every reconnect and
 * restart. Serves `GET /recorded` and `GET /history` (docs/API.md, "Recorder"). Does not record
 * itself, other recorders or dashboards. Keys (`--key`/`SKETCH_KEY`, `--ca`) are presented to
 * the sketches it subscribes to as `sketch tap` does.
 */
export default class Recorder extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'record every stream of every sketch found over mDNS into SQLite (--db FILE)';
  static override readonly options = options;

  /** The store, once `setup()` opened it. */
  store?: RecordStore;
  readonly #discovery: Discovery | false;
  readonly #ownsDiscovery: boolean;
  readonly #peer: SketchConfig['peer'];
  readonly #subscribers = new Map<string, StreamSubscriber>();
  /** Every sketch found and not lost, by name: subscribed to again when writes work again. */
  readonly #seen = new Map<string, FoundSketch>();
  #watch?: SketchWatch;

  constructor(config: SketchConfig = {}) {
    const discovery = config.discovery ?? new MdnsDiscovery({ log: (line) => console.error(line) });
    super({ ...config, discovery });
    this.#discovery = discovery;
    this.#ownsDiscovery = config.discovery === undefined;
    this.#peer = config.peer;
  }

  /**
   * Opens the database and starts watching the network.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` without `--db`, with a bad `--keep` or with
   *   mDNS off; `SKETCH_ERR_RECORD_DB` when the database cannot be opened.
   */
  override setup(o: OptionValues<typeof options>): void {
    if (!o.db) throw errors.INVALID_OPTION('--db FILE is required: the SQLite database to record into');
    const keepSeconds = o.keep === undefined ? undefined : parseDuration(o.keep);
    if (o.keep !== undefined && keepSeconds === undefined) {
      throw errors.INVALID_OPTION(`--keep must be a duration such as 7d, 12h, 30m, 90s or seconds, got ${JSON.stringify(o.keep)}`);
    }
    const discovery = this.#discovery;
    if (!discovery) throw errors.INVALID_OPTION('the recorder finds sketches over mDNS: run it without --no-mdns');
    this.store = new RecordStore({
      file: o.db,
      keepSeconds,
      maxSizeMB: o.maxSize,
      flushMs: o.flush * 1000,
      log: (line) => this.log.warn(line),
      onStorage: (state) => this.#storage(state),
    });
    this.out(`recording into ${o.db}${keepSeconds ? `, keeping ${o.keep}` : ''}${o.maxSize ? `, at most ${o.maxSize} MB` : ''}`);
    this.#watch = watchSketches(discovery, {
      intervalSeconds: o.rescan,
      browseMs: Math.min(1500, o.rescan * 1000),
      onFound: (found) => void this.#found(found),
      onLost: (lost) => this.#lost(lost),
      log: (line) => this.out(line),
    });
  }

  /** `GET /recorded`, `GET /history`, past the sketch's gate (Origin, keys) like the status. */
  override routes(): HttpRoutes {
    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!this.store || !serveRecorder(this.store, req, res)) sendText(res, 503, 'the recorder database is not open yet');
    };
    return { [RECORDED_PATH]: { handle }, [HISTORY_PATH]: { handle } };
  }

  /** The status with what it records under `recorder`: streams, items written, queue depth, database size. */
  override status(): SketchStatus {
    const s = this.store;
    return {
      ...super.status(),
      recorder: {
        db: s?.file ?? null,
        written: s?.written ?? 0,
        queued: s?.queued ?? 0,
        deleted: s?.deleted ?? 0,
        dbBytes: s?.fileBytes ?? 0,
        storage: s?.storage ?? 'ok',
        freeBytes: s?.freeBytes ?? null,
        unstored: s?.unstored ?? 0,
        recording: [...this.#subscribers.values()].map((x) => x.status()) satisfies StreamSubscriberStatus[],
      },
    };
  }

  /**
   * The disk filled up (or failed): every subscription stops, keeping nothing in memory — the
   * sketches hold the items in their histories; once writes work again each resumes after the
   * newest stored item (a gap row for what a sketch no longer holds).
   */
  #storage(state: 'ok' | 'full' | 'error'): void {
    if (state !== 'ok') {
      for (const sub of this.#subscribers.values()) sub.close();
      this.#subscribers.clear();
      return;
    }
    for (const found of this.#seen.values()) void this.#found(found);
  }

  async #found(found: FoundSketch): Promise<void> {
    if ((NOT_RECORDED as readonly string[]).includes(found.kind) || found.name === this.name) return;
    this.#seen.set(found.name, found);
    if (this.store!.storage !== 'ok') return; // subscribed once writes work again
    const paths = new Set(found.streams);
    for (const p of await this.#statusStreams(found)) paths.add(p);
    if (this.signal.aborted) return;
    for (const path of paths) {
      const key = `${found.name}\u0000${path}`;
      const existing = this.#subscribers.get(key);
      if (existing) {
        existing.retarget(found.url);
        continue;
      }
      this.store!.flush();
      const last = this.store!.last(found.name, path);
      const sub = new StreamSubscriber({
        url: found.url,
        path,
        name: found.name,
        resume: last ? { epoch: last.epoch, seq: last.seq } : undefined,
        credit: RECORDER_CREDIT,
        key: { key: this.#peer?.key, insecureKey: this.#peer?.insecureKey },
        ca: this.#peer?.ca,
        log: (line) => this.out(line),
        onSegment: (epoch, previous) => this.out(`${found.name}${path}: ${previous ? `restarted (epoch ${epoch})` : `recording (epoch ${epoch})`}`),
        onItem: (item, epoch) =>
          this.store?.add({
            sketch: found.name,
            kind: found.kind,
            stream: path,
            epoch,
            seq: item.seq,
            time: item.time,
            published: item.published,
            received: Date.now() / 1000,
            value: item.data, // its JSON text is made only when the store needs it (an item stored whole)
          }),
        onGap: (gap, epoch) => {
          this.out(`${found.name}${path}: gap ${gap.from}–${gap.to} (${gap.reason})`);
          this.store?.addGap({ sketch: found.name, stream: path, epoch, from: gap.from, to: gap.to, reason: gap.reason, time: Date.now() / 1000 });
        },
      });
      this.#subscribers.set(key, sub);
      sub.start();
    }
  }

  #lost(lost: FoundSketch): void {
    for (const [key, sub] of this.#subscribers) {
      if (sub.name !== lost.name) continue;
      sub.close();
      this.#subscribers.delete(key);
    }
    this.#seen.delete(lost.name);
    this.out(`${lost.name} is gone from the network: stopped recording it until it is back`);
  }

  /** The stream paths in a found sketch's status (`GET /.well-known/sketch`); none when it does not answer. */
  async #statusStreams(found: FoundSketch): Promise<string[]> {
    try {
      const security = { key: this.#peer?.key, insecureKey: this.#peer?.insecureKey, ca: this.#peer?.ca };
      const status = await fetchStatus(found, security, { timeoutMs: STATUS_TIMEOUT_MS, warn: (line) => this.out(line) });
      return Object.keys(status.streams).filter((p) => p.startsWith('/'));
    } catch (err) {
      this.out(`${found.name}: status not read (${oneLine(err)}): recording its announced streams only`);
      return [];
    }
  }

  /** Stops watching and subscribing, writes what is queued and closes the database. */
  override async teardown(): Promise<void> {
    this.#watch?.stop();
    for (const sub of this.#subscribers.values()) sub.close();
    this.#subscribers.clear();
    this.store?.close();
    if (this.#ownsDiscovery && this.#discovery) await this.#discovery.close().catch(() => {});
  }
}
