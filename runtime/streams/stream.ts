import { randomBytes } from 'node:crypto';
import { errors, oneLine } from '../errors.js';
import { textFrame } from '../net/frame.js';
import { encodeItem, jsonValue } from '../net/protocol.js';
import { DEFAULT_MAX_CREDIT, DEFAULT_STALE_AFTER_MS, MAX_CREDIT, MAX_STALE_AFTER_MS, MIN_STALE_AFTER_MS } from './flow.js';
import { History, MAX_HISTORY_BYTES, MAX_HISTORY_ITEMS, type HistoryLimits, type StreamItem } from './history.js';
import type { DeliverPolicy } from './query.js';
import { RateCounter, round, Window } from './stats.js';
import type { StreamStore } from './stream-spool.js';
import { Subscription, type SubscriberConnection, type SubscriberStatus } from './subscription.js';

/**
 * Slow-subscriber policies, as a const object + type (one doc line per member).
 *
 * Where bytes pile up: in the stream's own history, shared by every subscriber; in each
 * subscriber's socket buffer in Node (one write past its 16 KiB high-water mark); and in the
 * kernel's socket buffers (send and receive, up to several MB each on loopback), which Node
 * does not see. A subscriber that falls behind holds a position in the history, never a copy
 * of the items. For `all`, the history keeps the items a subscriber behind still needs past
 * its own bounds, by at most `maxBuffered` bytes (beyond that the subscriber is closed). What
 * sits in the kernel is bounded in time, not bytes: by `staleAfterMs` of data (pong-confirmed
 * subscribers), or by the credit granted (credit subscribers, at most `maxCredit` items).
 */
export const Delivery = {
  /** Every item, in order; a subscriber more than `maxBuffered` bytes or `staleAfterMs` behind is closed with 1013. */
  all: 'all',
  /** Conflation: a slow subscriber skips to the newest item (a `gap` for v2 clients) and is never closed. */
  latest: 'latest',
} as const;
/** One of {@link Delivery}. */
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/** How a sketch declares a stream: `static streams = { '/readings': { history: 1000, delivery: 'latest' } }`. */
export interface StreamSpec {
  /**
   * What the history keeps: an item count, or any of `{ items, maxAgeSeconds, maxBytes }`.
   * Defaults: 1000 items, 1 MiB, no age limit. Bounds: 1–1 000 000 items, 1 KiB–512 MiB.
   */
  history?: number | { items?: number; maxAgeSeconds?: number; maxBytes?: number };
  /** Slow-subscriber policy. Default `'all'`. */
  delivery?: Delivery;
  /**
   * Staleness bound, in ms: a subscriber without credit whose oldest data not yet confirmed by
   * its pong is older than this is closed with 1013 (`all`) or sent nothing until it confirms,
   * then the newest item (`latest`). Default 750 ({@link DEFAULT_STALE_AFTER_MS}); 100–60 000.
   */
  staleAfterMs?: number;
  /**
   * Most credit one subscriber may hold, in items: grants past it are cut to it. Default 1000
   * ({@link DEFAULT_MAX_CREDIT}); 1–1 000 000.
   */
  maxCredit?: number;
}

/** Options of `publish(path, data, options)`. */
export interface PublishOptions {
  /** When the sample was taken, in seconds since the Unix epoch. Default: now. */
  time?: number;
}

/** A stream's part of the status (`GET /.well-known/sketch` → `streams[path]`). Times in s. */
export interface StreamStatus {
  /** Newest seq published (0 before the first). */
  seq: number;
  /** Random id made when the stream started; a new one means `seq` restarted. */
  epoch: string;
  delivery: Delivery;
  history: { items: number; bytes: number; oldestTime: number | null; firstSeq: number; maxItems: number; maxBytes: number; maxAgeSeconds: number | null };
  /** Items per second over the last minute. */
  rate: number;
  /** Mean and jitter (standard deviation) of the interval between sample times, over the last 100 items; null before two. */
  interval: { mean: number | null; jitter: number | null };
  /** Mean and 99th percentile of `published − time`, over the last 1000 items; null before the first. */
  lag: { mean: number | null; p99: number | null };
  /** Items skipped for subscribers, all subscribers together, since start. */
  drops: number;
  /** Subscribers closed with 1013 for being too slow (`delivery: 'all'`), since start. */
  closedSlow: number;
  subscribers: SubscriberStatus[];
}

/** What a {@link Stream} needs from its sketch. */
export interface StreamHost {
  /** Unsent bytes allowed per subscriber (`delivery: 'all'`). */
  maxBuffered: number;
  log(line: string): void;
  /** Current time in seconds since the epoch. */
  now(): number;
  /** Monotonic clock in ms (staleness, pings). Default `performance.now`. Injected by tests. */
  clock?: () => number;
}

/**
 * One named, sequenced stream of a sketch: its history, its subscribers and its statistics.
 * `publish()` appends to the history and hands the item to every subscriber; each
 * subscriber then reads on from the history at its own pace (see {@link Subscription}).
 */
export class Stream {
  readonly path: string;
  /**
   * Random id made at start (8 characters), or the one kept in the spool: a reader that sees a
   * new epoch knows `seq` restarted.
   */
  readonly epoch: string;
  readonly delivery: Delivery;
  readonly history: History;
  /** The staleness bound, ms (see {@link StreamSpec.staleAfterMs}). */
  readonly staleAfterMs: number;
  /** Most credit one subscriber may hold, items (see {@link StreamSpec.maxCredit}). */
  readonly maxCredit: number;
  /** Monotonic clock, ms. */
  readonly clock: () => number;
  readonly #host: StreamHost;
  /** Where each item is kept across restarts (the spool), until it fails. */
  #store?: StreamStore;
  readonly #subscribers = new Set<Subscription>();
  readonly #rate: RateCounter;
  readonly #intervals = new Window(100);
  readonly #lags = new Window(1000);
  #lastTime?: number;
  /** When the last item was published on the monotonic clock, s. */
  #lastMono = 0;
  /** Oldest seq a `delivery: 'all'` subscriber still needs (kept past the history's bounds). */
  #keepFrom = Infinity;
  #drops = 0;
  #closedSlow = 0;

  /**
   * @param store where the stream keeps its epoch, seq and history across restarts (the spool):
   *   it goes on from what the store kept, and keeps each item it publishes. Default none.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `spec` is out of bounds.
   */
  constructor(path: string, spec: StreamSpec, host: StreamHost, store?: StreamStore) {
    if (!path.startsWith('/')) throw errors.INVALID_OPTION(`stream path must start with "/", got ${JSON.stringify(path)}`);
    this.path = path;
    this.delivery = spec.delivery ?? 'all';
    if (this.delivery !== 'all' && this.delivery !== 'latest') {
      throw errors.INVALID_OPTION(`stream ${path}: delivery must be "all" or "latest", got ${JSON.stringify(spec.delivery)}`);
    }
    this.history = new History(historyLimits(path, spec.history));
    this.staleAfterMs = wholeInRange(path, 'staleAfterMs', spec.staleAfterMs, DEFAULT_STALE_AFTER_MS, MIN_STALE_AFTER_MS, MAX_STALE_AFTER_MS, ' ms');
    this.maxCredit = wholeInRange(path, 'maxCredit', spec.maxCredit, DEFAULT_MAX_CREDIT, 1, MAX_CREDIT, ' items');
    this.clock = host.clock ?? (() => performance.now());
    this.#host = host;
    this.#rate = new RateCounter(this.clock() / 1000); // monotonic: a step of the wall clock is no burst nor silence
    const fresh = randomBytes(6).toString('base64url');
    const kept = store?.open(path, fresh);
    this.epoch = kept?.epoch ?? fresh;
    if (kept) this.history.restore(kept.lastSeq, kept.items, host.now());
    this.#store = store;
  }

  /** Unsent bytes allowed per subscriber before 1013 (`delivery: 'all'`). */
  get maxBuffered(): number {
    return this.#host.maxBuffered;
  }

  /** How many subscribers it has. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /**
   * Appends `data` (strings as they are, anything else as JSON) and hands it to every
   * subscriber. Each frame is built once per protocol and shared.
   * @returns the new item.
   */
  publish(data: unknown, options: PublishOptions = {}): StreamItem {
    const published = this.#host.now();
    const time = options.time ?? published;
    const isString = typeof data === 'string';
    const json = isString ? JSON.stringify(data) : jsonValue(data);
    const item = this.history.append(isString ? data : json, json, time, published, this.#keepFrom);
    if (this.#store) this.#keep(item);
    const mono = this.clock() / 1000;
    this.#rate.add(mono);
    this.#lags.push(published - time);
    if (this.#lastTime !== undefined) {
      // Sample times' interval, unless it differs from the monotonic one by more than a second:
      // the wall clock was stepped between the two (then the monotonic interval).
      const byTime = time - this.#lastTime;
      const byMono = mono - this.#lastMono;
      this.#intervals.push(Math.abs(byTime - byMono) > 1 ? byMono : byTime);
    }
    this.#lastTime = time;
    this.#lastMono = mono;
    if (this.#subscribers.size === 0) return item;
    let plain: Buffer | undefined;
    let v2: Buffer | undefined;
    const frame = (isV2: boolean) =>
      isV2 ? (v2 ??= textFrame(this.envelope(item))) : (plain ??= textFrame(item.text));
    let keepFrom = Infinity;
    const now = this.clock();
    for (const s of this.#subscribers) {
      s.offer(item, frame, now);
      keepFrom = Math.min(keepFrom, s.needs);
    }
    this.#keepFrom = keepFrom;
    return item;
  }

  /** The `sketchnet.v2` envelope of `item`. */
  envelope(item: StreamItem): string {
    return encodeItem(this.path, item.seq, item.time, item.published, item.json);
  }

  /** Writes `item` to the store before any subscriber is handed it; on failure one line, and the store is let go. */
  #keep(item: StreamItem): void {
    try {
      this.#store!.append(this.path, item, this.history.firstSeq);
    } catch (err) {
      this.#store = undefined;
      this.#host.log(oneLine(err));
    }
  }

  /**
   * Adds a subscriber starting where `policy` says; it is sent what it is owed at once.
   * `credit`: items it granted when subscribing (credit-based flow control, v2/v3 only).
   */
  subscribe(conn: SubscriberConnection, policy: DeliverPolicy, credit?: number): Subscription {
    this.history.evict(this.#host.now());
    const s = new Subscription(this, conn, policy, credit);
    if (!s.closed) this.#subscribers.add(s);
    this.#keepFrom = Math.min(this.#keepFrom, s.needs);
    return s;
  }

  /** Removes a subscriber (its connection closed). */
  unsubscribe(s: Subscription): void {
    s.remove();
    this.#subscribers.delete(s);
  }

  /** @internal Counts items skipped for a subscriber. */
  countDrops(n: number): void {
    this.#drops += n;
  }

  /** @internal A subscriber is being closed with 1013. */
  closedSlow(s: Subscription, why: string): void {
    this.#closedSlow++;
    this.#subscribers.delete(s);
    this.#host.log(`subscriber ${s.conn.remote} on ${this.path} is too slow (${why}): closing it with 1013`);
  }

  /** This stream's part of the status. */
  status(): StreamStatus {
    const now = this.#host.now();
    this.history.evict(now);
    const h = this.history;
    const mean = (w: Window) => round(w.mean(), 6) ?? null;
    return {
      seq: h.lastSeq,
      epoch: this.epoch,
      delivery: this.delivery,
      history: {
        items: h.size,
        bytes: h.bytes,
        oldestTime: h.oldest?.time ?? null,
        firstSeq: h.firstSeq,
        maxItems: h.limits.maxItems,
        maxBytes: h.limits.maxBytes,
        maxAgeSeconds: h.limits.maxAgeSeconds ?? null,
      },
      rate: round(this.#rate.rate(this.clock() / 1000), 3)!,
      interval: { mean: mean(this.#intervals), jitter: round(this.#intervals.stddev(), 6) ?? null },
      lag: { mean: mean(this.#lags), p99: round(this.#lags.percentile(99), 6) ?? null },
      drops: this.#drops,
      closedSlow: this.#closedSlow,
      subscribers: [...this.#subscribers].map((s) => s.status()),
    };
  }
}

/** `value` (default `fallback`) checked to be a whole number from `min` to `max`. */
function wholeInRange(path: string, name: string, value: unknown, fallback: number, min: number, max: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw errors.INVALID_OPTION(`stream ${path}: ${name} must be a whole number from ${min} to ${max}${unit}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The history bounds a {@link StreamSpec} asks for, checked. */
function historyLimits(path: string, history: StreamSpec['history']): Partial<HistoryLimits> {
  const spec = typeof history === 'number' ? { items: history } : (history ?? {});
  const bad = (what: string, got: unknown) =>
    errors.INVALID_OPTION(`stream ${path}: history ${what}, got ${JSON.stringify(got)}`);
  const out: Partial<HistoryLimits> = {};
  if (spec.items !== undefined) {
    if (!Number.isInteger(spec.items) || spec.items < 1 || spec.items > MAX_HISTORY_ITEMS) {
      throw bad(`items must be a whole number from 1 to ${MAX_HISTORY_ITEMS}`, spec.items);
    }
    out.maxItems = spec.items;
  }
  if (spec.maxBytes !== undefined) {
    if (!Number.isInteger(spec.maxBytes) || spec.maxBytes < 1024 || spec.maxBytes > MAX_HISTORY_BYTES) {
      throw bad(`maxBytes must be a whole number from 1024 to ${MAX_HISTORY_BYTES}`, spec.maxBytes);
    }
    out.maxBytes = spec.maxBytes;
  }
  if (spec.maxAgeSeconds !== undefined) {
    if (typeof spec.maxAgeSeconds !== 'number' || !(spec.maxAgeSeconds > 0) || !Number.isFinite(spec.maxAgeSeconds)) {
      throw bad('maxAgeSeconds must be a number of seconds > 0', spec.maxAgeSeconds);
    }
    out.maxAgeSeconds = spec.maxAgeSeconds;
  }
  return out;
}
