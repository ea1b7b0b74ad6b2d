/**
 * The history of one stream: a bounded, sequenced log of items in memory. No sockets here:
 * subscribers read from it by sequence number, which is what makes "go back in time" and the
 * catch-up race (history, then live, no hole, no duplicate) one mechanism.
 */

/** One item of a stream. Times are seconds since the Unix epoch (floats, ms precision). */
export interface StreamItem {
  /** Sequence number within the stream's epoch: 1, 2, 3… with no holes. */
  readonly seq: number;
  /** When the sample was taken (given by the producer; default: when published), s. */
  readonly time: number;
  /** When the runtime published it, s. */
  readonly published: number;
  /** The data as a plain client receives it: strings as they are, anything else as JSON. */
  readonly text: string;
  /** The data as a JSON value (what a `sketchnet.v2` envelope carries in `data`). */
  readonly json: string;
  /** Bytes this item counts against the history's `maxBytes` (UTF-8 size of `text` + 64 bytes of bookkeeping). */
  readonly bytes: number;
  /** Running total of `bytes` over the stream's life up to and including this item. */
  readonly cumulative: number;
}

/** How much a history keeps. Every bound applies at once; the oldest items go first. */
export interface HistoryLimits {
  /** Most items held. Whole number from 1 to {@link MAX_HISTORY_ITEMS}. Default 1000. */
  maxItems: number;
  /** Most bytes held (see {@link StreamItem.bytes}), from 1 KiB to {@link MAX_HISTORY_BYTES}. Default 1 MiB. */
  maxBytes: number;
  /** Items older than this (by `published`) are dropped, in seconds; undefined = no age limit. */
  maxAgeSeconds?: number;
}

/** Default history bounds: 1000 items and 1 MiB. */
export const DEFAULT_HISTORY: Readonly<HistoryLimits> = Object.freeze({ maxItems: 1000, maxBytes: 1024 * 1024 });
/** Upper bound of `maxItems`: 1 000 000. */
export const MAX_HISTORY_ITEMS = 1_000_000;
/** Upper bound of `maxBytes`: 512 MiB. */
export const MAX_HISTORY_BYTES = 512 * 1024 * 1024;
/** Bookkeeping counted per item on top of its text, in bytes. */
const ITEM_OVERHEAD = 64;

/**
 * A bounded log: `append()` numbers items 1, 2, 3…; `get(seq)` reads one back while it is
 * held; the oldest items are evicted past `maxItems`, `maxBytes` or `maxAgeSeconds`. The
 * newest item is kept even when it alone is larger than `maxBytes` (not past `maxAgeSeconds`).
 */
export class History {
  readonly limits: Readonly<HistoryLimits>;
  #items: StreamItem[] = [];
  #head = 0;
  #bytes = 0;
  #lastSeq = 0;
  #cumulative = 0;

  constructor(limits: Partial<HistoryLimits> = {}) {
    this.limits = { ...DEFAULT_HISTORY, ...limits };
  }

  /** Seq of the newest item ever appended (0 before the first). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Seq of the oldest item held; `lastSeq + 1` when nothing is held. */
  get firstSeq(): number {
    return this.#head < this.#items.length ? this.#items[this.#head]!.seq : this.#lastSeq + 1;
  }

  /** Items held. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes held (sum of {@link StreamItem.bytes}). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The oldest item held, if any. */
  get oldest(): StreamItem | undefined {
    return this.#items[this.#head];
  }

  /** The newest item held, if any. */
  get newest(): StreamItem | undefined {
    return this.size > 0 ? this.#items[this.#items.length - 1] : undefined;
  }

  /**
   * Appends one item and evicts what no longer fits.
   * @param text the data as plain clients get it; `json` the same as a JSON value.
   * @param time sample time, s; `published` when published, s (also the clock for `maxAgeSeconds`).
   * @param keepFrom items from this seq on are kept even past the bounds (see {@link evict}).
   */
  append(text: string, json: string, time: number, published: number, keepFrom = Infinity): StreamItem {
    const bytes = Buffer.byteLength(text) + ITEM_OVERHEAD;
    this.#cumulative += bytes;
    const item: StreamItem = { seq: ++this.#lastSeq, time, published, text, json, bytes, cumulative: this.#cumulative };
    this.#items.push(item);
    this.#bytes += bytes;
    this.evict(published, keepFrom);
    return item;
  }

  /**
   * Takes back what a spool kept (runtime/streams/stream-spool.ts), before anything is appended:
   * the newest seq `lastSeq` and `items` (oldest first, the last one at most `lastSeq`), then
   * evicts what no longer fits the bounds at `now` (s).
   */
  restore(lastSeq: number, items: ReadonlyArray<Pick<StreamItem, 'seq' | 'time' | 'published' | 'text' | 'json'>>, now: number): void {
    for (const i of items) {
      const bytes = Buffer.byteLength(i.text) + ITEM_OVERHEAD;
      this.#cumulative += bytes;
      this.#items.push({ seq: i.seq, time: i.time, published: i.published, text: i.text, json: i.json, bytes, cumulative: this.#cumulative });
      this.#bytes += bytes;
    }
    this.#lastSeq = lastSeq;
    this.evict(now);
  }

  /** The item `seq` while it is held, else undefined. */
  get(seq: number): StreamItem | undefined {
    const first = this.firstSeq;
    if (seq < first || seq > this.#lastSeq) return undefined;
    return this.#items[this.#head + (seq - first)];
  }

  /** Seq of the oldest held item sampled at or after `time` (s); `lastSeq + 1` when none is. */
  seqAtTime(time: number): number {
    for (let i = this.#head; i < this.#items.length; i++) if (this.#items[i]!.time >= time) return this.#items[i]!.seq;
    return this.#lastSeq + 1;
  }

  /** Bytes of the held items from `seq` to the newest (0 when `seq` is past the newest). */
  bytesFrom(seq: number): number {
    if (seq > this.#lastSeq) return 0;
    const from = this.get(Math.max(seq, this.firstSeq));
    return from ? this.#cumulative - from.cumulative + from.bytes : 0;
  }

  /**
   * Drops the oldest items past the bounds; `now` (s) is the clock for `maxAgeSeconds`.
   * Items from seq `keepFrom` on stay even past the bounds: the stream passes the oldest
   * item a `delivery: 'all'` subscriber still needs, whose lag it bounds itself.
   */
  evict(now: number, keepFrom = Infinity): void {
    const { maxItems, maxBytes, maxAgeSeconds } = this.limits;
    const oldestAllowed = maxAgeSeconds === undefined ? -Infinity : now - maxAgeSeconds;
    while (this.size > 1) {
      const oldest = this.#items[this.#head]!;
      if (oldest.seq >= keepFrom) return;
      if (this.size <= maxItems && this.#bytes <= maxBytes && oldest.published >= oldestAllowed) break;
      this.#bytes -= oldest.bytes;
      this.#head++;
    }
    if (this.size === 1 && this.#items[this.#head]!.seq < keepFrom && this.#items[this.#head]!.published < oldestAllowed) {
      this.#bytes = 0;
      this.#head++;
    }
    // Compact now and then so that the array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
