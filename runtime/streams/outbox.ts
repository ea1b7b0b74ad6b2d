/**
 * The outbox: buffered, batched, rate-limited forwarding of items to one peer, with no
 * sockets inside. A producer calls `push(data)` and never waits; one delivery loop sends the
 * held items through the `send` function it was given (for a sketch: a peer connection's
 * `send`), one message at a time, in order, and retries with backoff for as long as the
 * outbox is open.
 *
 * Where items pile up: in the {@link OutboxStore} (memory by default), bounded by
 * `maxItems`; when it is full the oldest item never sent is dropped and counted. Nothing
 * else buffers: the message in flight is made of items still held in the store.
 *
 * ```ts
 * const outbox = new Outbox({ target: 'logger', send: (text) => peer.send(text), log: console.log, batch: 50 });
 * outbox.push({ time: 1763737200.125, temperature: 23.125 }); // never throws, never blocks
 * outbox.status(); // { target: 'logger', queued: 1, inFlight: 0, delivered: 0, … }
 * await outbox.close();
 * ```
 */
import { setTimeout as delay } from 'node:timers/promises';
import { errors, oneLine, SketchError } from '../errors.js';
import { dropUndefined } from '../options.js';

/**
 * A rate limit as a token bucket of `messages` tokens where each token spent comes back
 * `perSeconds` later: never more than `messages` messages in any window of `perSeconds`
 * seconds (what a service means by "30 calls per 10 s"), bursts of up to `messages`.
 */
export interface RateLimit {
  /** Messages allowed per period, also the largest burst. Whole number ≥ 1. */
  messages: number;
  /** Length of the period, in seconds. > 0. */
  perSeconds: number;
}

/** How an {@link Outbox} buffers, batches and paces; every field is optional. */
export interface OutboxOptions {
  /**
   * Most items held (waiting, or sent and not yet acknowledged). Whole number from 1 to
   * {@link MAX_OUTBOX_ITEMS}. Default 10 000. When a push would exceed it, the oldest item
   * that was never sent is dropped and counted in `dropped` (items already sent may have
   * reached the peer, so they are kept until acknowledged). In memory each item costs its
   * JSON text plus about 80 bytes: a thermometer reading about 180 bytes, so 10 000 of them
   * about 1.8 MB.
   */
  maxItems?: number;
  /**
   * Most items per message. Whole number from 1 to {@link MAX_OUTBOX_BATCH}. Default 50. A
   * lone waiting item goes as its own JSON text (a string as it is); when several wait, up
   * to `batch` of them go in one message as a JSON array of their JSON values,
   * e.g. `[{"time":1},{"time":2}]`. So a receiver that gets an array must treat it as a
   * batch: do not push lone items that are themselves JSON arrays (or strings that look like
   * one) to a receiver that cannot tell them apart.
   */
  batch?: number;
  /**
   * Pace of messages (every attempt counts, retries included), e.g. `{ messages: 30,
   * perSeconds: 10 }` like Initial State's 30 calls per 10 s. Default: none (as fast as the
   * peer acknowledges). Items keep accumulating (and batching) while the bucket is empty.
   */
  rate?: RateLimit;
  /**
   * First retry delay after a failed message, in ms. > 0. Default 500. It doubles with each
   * further failure in a row; each delay is drawn within ±20 % of that value (jitter).
   */
  backoff?: number;
  /** Longest retry delay, in ms; no retry waits longer. ≥ `backoff`. Default 30 000. */
  maxBackoff?: number;
  /**
   * How long one message may wait for the peer's acknowledgement, in ms, before it counts as
   * failed and is sent again after the backoff (at-least-once: the peer may then see it
   * twice). > 0. Default 10 000. Guards against a peer that accepts messages but never
   * acknowledges them (a sketch whose `loop` is not `@reactive`, a hung process). Timed
   * with a real (unref'd) timer, not the injected `sleep`.
   */
  ackTimeout?: number;
}

/** What {@link Outbox} is built from: `new Outbox({ target, send, log, ...options })`. */
export interface OutboxConfig extends OutboxOptions {
  /** The peer's instance name or URL; used in log lines and `status()`. */
  target: string;
  /**
   * Delivers one message to the peer; resolves with the peer's acknowledgement, rejects on
   * any failure (peer not found, connection lost, error reply). Called with one message at a
   * time: the next call waits for this one to settle.
   */
  send: (text: string) => Promise<string>;
  /**
   * Called when a message got no acknowledgement within `ackTimeout`: the transport should
   * drop its connection, so that a late acknowledgement of that message is not taken for the
   * next one's. Default: nothing.
   */
  abandon?: () => void;
  /** Where the outbox's lines go (absence, return, drops, close). Default: nowhere. */
  log?: (line: string) => void;
  /** Where items are held. Default: a new {@link MemoryOutboxStore}. Closed with the outbox. */
  store?: OutboxStore;
  /**
   * Most bytes of items held, for a store that counts them (`bytes`; the spool, `--spool-max`):
   * past it the oldest unsent items are dropped and counted in `dropped`. Default: no bound.
   */
  maxBytes?: number;
  /** Monotonic clock in ms (rate limit, `nextRetryMs`). Default `performance.now`. Injected by tests. */
  now?: () => number;
  /**
   * Waits `ms` milliseconds; must settle (resolve or reject) at once when `signal` aborts.
   * Default: `setTimeout` from `node:timers/promises`. Injected by tests.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Random numbers in [0, 1), for the backoff jitter. Default `Math.random`. Injected by tests. */
  random?: () => number;
}

/**
 * What {@link Outbox.status} returns: plain JSON-able numbers and strings, a snapshot.
 */
export interface OutboxStatus {
  /** The peer, as given (`target`). */
  target: string;
  /** Items held and not in the message in flight: never sent, or waiting for a retry. */
  queued: number;
  /** Items in the message sent and awaiting its acknowledgement (0 while backing off). */
  inFlight: number;
  /** Items the peer acknowledged, since the outbox was made. */
  delivered: number;
  /** Items dropped without delivery: the queue was full, the item had no JSON form, or it came after `close()`. */
  dropped: number;
  /** Messages the peer acknowledged (each carries 1 to `batch` items). */
  messages: number;
  /** True when the last message was acknowledged; false before the first and after a failure. */
  connected: boolean;
  /** One line: why the last failed message failed (kept after the peer came back). */
  lastError?: string;
  /** While waiting to retry after a failure: ms until the next attempt. */
  nextRetryMs?: number;
}

/**
 * Where an {@link Outbox} holds its items, keyed by a monotonically increasing id (1, 2, 3…
 * given by the outbox), never by position — like mqtt.js' in-flight store. An item is the
 * JSON text of the pushed value. Synchronous, so that `push()` never waits (a SQLite store
 * with better-sqlite3 is synchronous too). Every implementation must pass the contract
 * suite in `test/helpers/outbox-store-contract.ts`.
 */
export interface OutboxStore {
  /** Stores `item` under `id`, replacing any item already stored under it. */
  put(id: number, item: string): void;
  /** The item stored under `id`, or undefined. */
  get(id: number): string | undefined;
  /** Removes the item stored under `id`; returns it, or undefined when there was none. */
  del(id: number): string | undefined;
  /** Up to `limit` stored ids greater than `after` (default 0), in increasing order. */
  oldest(limit: number, after?: number): number[];
  /** The highest id stored, or undefined when empty (an outbox continues numbering after it). */
  newest(): number | undefined;
  /** How many items are stored. */
  readonly size: number;
  /** Bytes of the items stored (their JSON text), when the store keeps count: bounded by `maxBytes`. */
  readonly bytes?: number;
  /** Releases the store; no other method is called afterwards. */
  close(): void | Promise<void>;
}

/** Upper bound of `maxItems`: 10 000 000. */
export const MAX_OUTBOX_ITEMS = 10_000_000;
/** Upper bound of `batch`: 10 000. */
export const MAX_OUTBOX_BATCH = 10_000;
/** Default {@link OutboxOptions}: 10 000 items, 50 per message, no rate limit, 500 ms to 30 s backoff. */
export const DEFAULT_OUTBOX = Object.freeze({ maxItems: 10_000, batch: 50, backoff: 500, maxBackoff: 30_000, ackTimeout: 10_000 });
/** Each retry delay is drawn within ±JITTER of its nominal value. */
const JITTER = 0.2;

/**
 * The in-memory {@link OutboxStore}: items in a `Map`, ids in a sorted array from `#head` on.
 * What an outbox does costs O(1) or O(batch): new ids go at the end, acknowledged ones leave
 * from the front, a dropped one sits just after the (at most `batch`) items in flight.
 * `oldest()` is a binary search. Items are lost when the process ends.
 */
export class MemoryOutboxStore implements OutboxStore {
  #items = new Map<number, string>();
  /** Stored ids in increasing order, from index `#head` on (slots before it are spent). */
  #ids: number[] = [];
  #head = 0;

  put(id: number, item: string): void {
    if (this.#items.has(id)) {
      this.#items.set(id, item);
      return;
    }
    this.#items.set(id, item);
    const n = this.#ids.length;
    if (n === this.#head || id > this.#ids[n - 1]!) this.#ids.push(id);
    else this.#ids.splice(this.#search(id), 0, id); // below the newest: an Outbox never does this
  }

  get(id: number): string | undefined {
    return this.#items.get(id);
  }

  del(id: number): string | undefined {
    const item = this.#items.get(id);
    if (item === undefined) return undefined;
    this.#items.delete(id);
    const ids = this.#ids;
    const at = this.#search(id);
    if (at - this.#head <= ids.length - 1 - at) {
      // nearer the front: move the ids before it up one slot
      ids.copyWithin(this.#head + 1, this.#head, at);
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > ids.length) {
        this.#ids = ids.slice(this.#head);
        this.#head = 0;
      }
    } else {
      ids.splice(at, 1);
    }
    return item;
  }

  oldest(limit: number, after = 0): number[] {
    if (limit <= 0) return [];
    const from = this.#search(after, true);
    return this.#ids.slice(from, Math.min(this.#ids.length, from + limit));
  }

  newest(): number | undefined {
    return this.#ids.length > this.#head ? this.#ids[this.#ids.length - 1] : undefined;
  }

  get size(): number {
    return this.#items.size;
  }

  close(): void {
    this.#items.clear();
    this.#ids = [];
    this.#head = 0;
  }

  /** Index of the first id ≥ `id` (> `id` when `above`) from `#head` on. */
  #search(id: number, above = false): number {
    let lo = this.#head;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const x = this.#ids[mid]!;
      if (x < id || (above && x === id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Parses a rate for the command line: `'30/10s'` → `{ messages: 30, perSeconds: 10 }`;
 * `'5'` → 5 per second; the period may be `ms`, `s`, `m` or `h` (`'2/1m'`, `'100/h'`), and a
 * bare period number means seconds (`'30/10'`).
 * @param what how to name the value in the error, e.g. `--rate`. Default `rate`.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` (one line) for anything else, or a zero
 *   count or period.
 */
export function parseRate(text: string, what = 'rate'): RateLimit {
  const m = /^\s*(\d+)\s*(?:\/\s*(\d+(?:\.\d+)?|\.\d+)?\s*(ms|s|m|h)?)?\s*$/i.exec(String(text));
  const bad = () =>
    errors.INVALID_OPTION(
      `${what} must be MESSAGES or MESSAGES/PERIOD, e.g. 5 (per second), 30/10s, 2/1m or 100/h, got ${JSON.stringify(text)}`,
    );
  if (!m) throw bad();
  const hasSlash = String(text).includes('/');
  if (hasSlash && m[2] === undefined && m[3] === undefined) throw bad(); // "30/"
  const messages = Number(m[1]);
  const amount = m[2] === undefined ? 1 : Number(m[2]);
  const unit = (m[3] ?? 's').toLowerCase();
  const perSeconds = amount * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[unit]!;
  if (!(messages >= 1) || !(perSeconds > 0)) {
    throw errors.INVALID_OPTION(`${what} needs at least 1 message and a period longer than 0, got ${JSON.stringify(text)}`);
  }
  return { messages, perSeconds };
}

/**
 * Buffered, batched, rate-limited, at-least-once forwarding to one peer.
 *
 * - `push(data)` stores the item under the next id and returns at once; it never throws.
 * - One delivery loop sends the oldest held items, one message at a time (so they arrive in
 *   order), and deletes them from the store when the peer acknowledges. A failed message is
 *   sent again — with any items that arrived since, up to `batch` — before anything newer,
 *   after an exponential backoff with jitter, forever, until `close()`. So the peer may get
 *   an item twice (at-least-once); it never gets a later item before an earlier one it has
 *   not acknowledged.
 * - The peer's absence is logged once (`peer X unreachable (why): buffering, retrying`) and
 *   its return once, when the items held while it was away are delivered
 *   (`peer X is back: delivered N item(s) held while it was away`); never a line per retry.
 *
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` from the constructor when an option is out of
 *   its bounds (see {@link OutboxOptions}).
 */
export class Outbox {
  /** The peer, as given. */
  readonly target: string;
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<Omit<OutboxOptions, 'rate'>> & Pick<OutboxOptions, 'rate'>>;

  readonly #send: (text: string) => Promise<string>;
  readonly #abandon: () => void;
  readonly #log: (line: string) => void;
  readonly #store: OutboxStore;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #abort = new AbortController();

  #nextId: number;
  /** Every held id ≤ this was sent at least once (may have reached the peer): never dropped. */
  #sentThrough = 0;
  #inFlight = 0;
  #delivered = 0;
  #dropped = 0;
  #messages = 0;
  #connected = false;
  #lastError?: string;
  #retryAt?: number;
  /** Failed messages in a row. */
  #failures = 0;
  /** Set while the peer is known to be away (its absence was logged, its return not yet). */
  #away?: { delivered: number; dropped: number; backlogThrough?: number };
  #dropLogged = false;
  /** When each token currently spent was spent (clock ms, ascending); at most `rate.messages`. */
  #spent: number[] = [];
  #closed = false;
  #closing?: Promise<void>;
  #heldAtClose = 0;
  #running = false;
  #wake?: () => void;
  #drainWaiters: (() => void)[] = [];

  constructor(config: OutboxConfig) {
    const o = { ...DEFAULT_OUTBOX, ...dropUndefined(config) };
    checkInteger('maxItems', o.maxItems, 1, MAX_OUTBOX_ITEMS);
    checkInteger('batch', o.batch, 1, MAX_OUTBOX_BATCH);
    if (!(Number.isFinite(o.backoff) && o.backoff > 0)) {
      throw errors.INVALID_OPTION(`outbox backoff must be a number of ms > 0, got ${String(o.backoff)}`);
    }
    if (!(Number.isFinite(o.maxBackoff) && o.maxBackoff >= o.backoff)) {
      throw errors.INVALID_OPTION(`outbox maxBackoff must be a number of ms ≥ backoff (${o.backoff}), got ${String(o.maxBackoff)}`);
    }
    if (!(Number.isFinite(o.ackTimeout) && o.ackTimeout > 0)) {
      throw errors.INVALID_OPTION(`outbox ackTimeout must be a number of ms > 0, got ${String(o.ackTimeout)}`);
    }
    if (o.rate !== undefined) {
      const { messages, perSeconds } = o.rate;
      if (!(Number.isInteger(messages) && messages >= 1) || !(Number.isFinite(perSeconds) && perSeconds > 0)) {
        throw errors.INVALID_OPTION(
          `outbox rate must be { messages: a whole number ≥ 1, perSeconds: a number > 0 }, got ${JSON.stringify(o.rate)}`,
        );
      }
    }
    if (typeof config.send !== 'function') throw errors.INVALID_OPTION('outbox send must be a function (text) => Promise<ack>');
    this.target = config.target;
    this.options = Object.freeze({
      maxItems: o.maxItems,
      batch: o.batch,
      backoff: o.backoff,
      maxBackoff: o.maxBackoff,
      ackTimeout: o.ackTimeout,
      ...(o.rate ? { rate: { ...o.rate } } : {}),
    });
    this.#send = config.send;
    this.#abandon = config.abandon ?? (() => {});
    this.#log = config.log ?? (() => {});
    this.#store = config.store ?? new MemoryOutboxStore();
    this.#maxBytes = config.maxBytes;
    this.#now = config.now ?? (() => performance.now());
    this.#sleep = config.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.#random = config.random ?? Math.random;
    this.#nextId = (this.#store.newest() ?? 0) + 1;
    if (this.#store.size > 0) this.#start(); // a persistent store's items from the last run
  }

  /**
   * Queues `data` for the peer and returns at once. Non-strings are sent as JSON. Never
   * throws: an item with no JSON form (`undefined`, a function, a BigInt, a cycle), a store
   * that fails, or a push after `close()` is logged and counted in `dropped`.
   */
  readonly #maxBytes?: number;

  push(data: unknown): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    try {
      const json = JSON.stringify(data);
      if (json === undefined) throw new TypeError(`${typeof data} has no JSON form`);
      this.#store.put(this.#nextId++, json);
      const maxBytes = this.#maxBytes;
      while (this.#store.size > this.options.maxItems || (maxBytes !== undefined && (this.#store.bytes ?? 0) > maxBytes)) {
        const overItems = this.#store.size > this.options.maxItems;
        const [oldest] = this.#store.oldest(1, this.#sentThrough);
        if (oldest === undefined) break;
        this.#store.del(oldest);
        this.#dropped++;
        if (!this.#dropLogged) {
          this.#dropLogged = true;
          this.#log(
            overItems
              ? `queue for ${this.target} is full (${this.options.maxItems} items): dropping the oldest unsent ones (counted in status().dropped)`
              : `spool for ${this.target} is full (${maxBytes} bytes): dropping the oldest unsent items (counted in status().dropped)`,
          );
        }
      }
    } catch (err) {
      this.#dropped++;
      this.#log(`cannot queue an item for ${this.target}: ${oneLine(err)} (dropped)`);
      return;
    }
    this.#start();
  }

  /** A snapshot of the counters; see {@link OutboxStatus} for each field. */
  status(): OutboxStatus {
    const held = this.#closed ? this.#heldAtClose : this.#store.size;
    const s: OutboxStatus = {
      target: this.target,
      queued: held - this.#inFlight,
      inFlight: this.#inFlight,
      delivered: this.#delivered,
      dropped: this.#dropped,
      messages: this.#messages,
      connected: this.#connected,
    };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    if (this.#retryAt !== undefined) s.nextRetryMs = Math.max(0, Math.round(this.#retryAt - this.#now()));
    return s;
  }

  /** Resolves when nothing is queued or in flight (at once if so already), or when the outbox is closed. */
  drained(): Promise<void> {
    if (this.#closed || this.#store.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Stops delivering: aborts a backoff or rate-limit wait at once, does not wait for a
   * message in flight (its items count as not delivered), logs how many items were not
   * delivered if any, and closes the store. Later pushes are counted as dropped. Safe to call
   * twice; both calls resolve when done.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#heldAtClose = this.#store.size;
    this.#retryAt = undefined;
    this.#abort.abort(errors.CLOSED(`outbox to ${this.target}`));
    this.#wake?.();
    if (this.#heldAtClose > 0) {
      const sent = this.#inFlight > 0 ? ` (${this.#inFlight} of them sent, unacknowledged)` : '';
      this.#log(`closing: ${this.#heldAtClose} item(s) not delivered to ${this.target}${sent}`);
    }
    this.#settleDrained();
    try {
      await this.#store.close();
    } catch (err) {
      this.#log(`closing the outbox store for ${this.target} failed: ${oneLine(err)}`);
    }
  }

  #start(): void {
    if (this.#running) {
      this.#wake?.();
      return;
    }
    this.#running = true;
    void this.#run()
      .catch((err: unknown) => {
        if (!this.#closed) this.#log(`delivery to ${this.target} stopped: ${oneLine(err)}`);
      })
      .finally(() => {
        this.#running = false;
      });
  }

  /** The delivery loop: one message in flight at a time, until closed. */
  async #run(): Promise<void> {
    await null; // never send from inside push(): the producer returns first
    while (!this.#closed) {
      if (this.#store.size === 0) {
        this.#settleDrained();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const wait = this.#takeToken();
      if (wait > 0) {
        await this.#pause(wait);
        continue;
      }
      const ids: number[] = [];
      const items: string[] = [];
      for (const id of this.#store.oldest(this.options.batch)) {
        const item = this.#store.get(id);
        if (item === undefined) {
          this.#store.del(id); // a store that lists an id it does not hold: skip it
          continue;
        }
        ids.push(id);
        items.push(item);
      }
      if (ids.length === 0) continue;
      const text = items.length === 1 ? lone(items[0]!) : `[${items.join(',')}]`;
      this.#sentThrough = Math.max(this.#sentThrough, ids[ids.length - 1]!);
      this.#inFlight = ids.length;
      let failure: unknown;
      let ok = false;
      try {
        await this.#acknowledgement(this.#send(text));
        ok = true;
      } catch (err) {
        failure = err;
      }
      if (this.#closed) return; // close() already counted what was in flight
      this.#inFlight = 0;
      if (ok) this.#acknowledged(ids);
      else await this.#failed(failure);
    }
  }

  /** `sent`, or a failure after `ackTimeout` ms without an acknowledgement (then the transport is told to drop the connection). */
  async #acknowledgement(sent: Promise<string>): Promise<void> {
    const timer = new AbortController();
    let timedOut = false;
    // A real timer of its own (not the injected backoff `sleep`), unref'd: it never keeps the process alive.
    const signal = AbortSignal.any([timer.signal, this.#abort.signal]);
    const timeout = delay(this.options.ackTimeout, undefined, { signal, ref: false }).then(
      () => {
        if (timer.signal.aborted || this.#abort.signal.aborted) return new Promise<never>(() => {});
        timedOut = true;
        throw errors.PEER_UNREACHABLE(this.target, `no acknowledgement within ${this.options.ackTimeout / 1000} s`);
      },
      () => new Promise<never>(() => {}), // cancelled: the acknowledgement (or close) came first
    );
    try {
      await Promise.race([sent, timeout]);
    } catch (err) {
      if (timedOut) this.#abandon();
      throw err;
    } finally {
      timer.abort();
    }
  }

  #acknowledged(ids: number[]): void {
    for (const id of ids) this.#store.del(id);
    this.#delivered += ids.length;
    this.#messages++;
    this.#failures = 0;
    this.#connected = true;
    if (this.#store.size < this.options.maxItems) this.#dropLogged = false;
    const away = this.#away;
    if (away) {
      away.backlogThrough ??= this.#nextId - 1; // what was pushed until the peer answered again
      const [oldest] = this.#store.oldest(1);
      if (oldest === undefined || oldest > away.backlogThrough) {
        const dropped = this.#dropped - away.dropped;
        const lost = dropped > 0 ? ` (${dropped} dropped: the queue was full)` : '';
        this.#log(`peer ${this.target} is back: delivered ${this.#delivered - away.delivered} item(s) held while it was away${lost}`);
        this.#away = undefined;
      }
    }
    if (this.#store.size === 0) this.#settleDrained();
  }

  async #failed(err: unknown): Promise<void> {
    this.#failures++;
    this.#connected = false;
    this.#lastError = reason(err, this.target);
    if (!this.#away) {
      const refused = err instanceof SketchError && err.code === 'SKETCH_ERR_REMOTE';
      const what = refused ? 'refused a message' : 'unreachable';
      this.#log(`peer ${this.target} ${what} (${this.#lastError}): buffering, retrying`);
      this.#away = { delivered: this.#delivered, dropped: this.#dropped };
    } else {
      this.#away.backlogThrough = undefined; // came back and went away again before its backlog was out
    }
    const ms = this.#retryDelay(this.#failures);
    this.#retryAt = this.#now() + ms;
    await this.#pause(ms);
    this.#retryAt = undefined;
  }

  /**
   * The delay before retry number `n` (1 = after the first failure), in ms:
   * min(backoff · 2ⁿ⁻¹, maxBackoff), then ±20 % jitter, never above `maxBackoff`.
   */
  #retryDelay(n: number): number {
    const { backoff, maxBackoff } = this.options;
    const nominal = Math.min(backoff * 2 ** Math.min(n - 1, 60), maxBackoff);
    const jittered = nominal * (1 - JITTER + 2 * JITTER * this.#random());
    return Math.round(Math.min(jittered, maxBackoff));
  }

  /** 0 when a message may go now (and spends a token), else ms until a token comes back. */
  #takeToken(): number {
    const rate = this.options.rate;
    if (!rate) return 0;
    const now = this.#now();
    const period = rate.perSeconds * 1000;
    while (this.#spent.length > 0 && now - this.#spent[0]! >= period) this.#spent.shift();
    if (this.#spent.length < rate.messages) {
      this.#spent.push(now);
      return 0;
    }
    return Math.max(1, Math.ceil(this.#spent[0]! + period - now));
  }

  async #pause(ms: number): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#sleep(ms, this.#abort.signal);
    } catch {
      // aborted by close()
    }
  }

  #settleDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * One line saying why a message failed, without what the outbox line already says: a
 * `Peer` made with `retries: 0` words it `peer X unreachable: … (gave up after 1 attempts)`.
 */
function reason(err: unknown, target: string): string {
  let line = oneLine(err);
  const prefix = `peer ${target} unreachable: `;
  if (line.startsWith(prefix)) line = line.slice(prefix.length);
  return line.replace(/ \(gave up after 1 attempts?\)$/, '');
}

/** A lone item goes as its own JSON text, except a string, which goes as it is. */
function lone(json: string): string {
  return json.startsWith('"') ? (JSON.parse(json) as string) : json;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw errors.INVALID_OPTION(`outbox ${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
}

