/**
 * One subscription of the dashboard to one stream of one sketch (`sketchnet.v2`), however many
 * pages are open: it keeps the newest points in a bounded buffer and hands every new one on.
 * The subscription itself is a {@link StreamSubscriber} (the recorder's too): it resumes after a
 * drop with `?after_seq=S&epoch=E`, so nothing is missed or repeated; after the sketch restarted
 * (a new epoch) it takes the new epoch's history from seq 1.
 */
import type { ItemFrame } from '../net/protocol.js';
import { numericFields } from '../streams/fields.js';
import { StreamSubscriber } from '../streams/subscriber.js';
import type { ClientSecurity } from '../net/client.js';

/** One plotted point: the numeric fields of an item's data at its sample time. */
export interface Point {
  /** The stream's epoch when the item was published. */
  epoch: string;
  seq: number;
  /** Sample time, s since the epoch. */
  time: number;
  /** Numeric top-level fields of the item's data (a bare number is `value`), `time` left out. */
  values: Record<string, number>;
  /** The item's `trace` field when it is a trace id (32 lower-case hex: the clock's `/ticks`), kept for the page's waterfall. */
  trace?: string;
}

/** A trace id: 32 lower-case hex digits (W3C trace context). */
export const TRACE_ID = /^[0-9a-f]{32}$/;

/** Options of {@link Relay}. Times in ms unless named otherwise. */
export interface RelayOptions {
  sketch: string;
  stream: string;
  /** The sketch's base URL (`ws://H:P/`); {@link Relay.retarget} changes it. */
  url: string;
  /** The dashboard's key and CA for the sketches (keys go only over wss:// or loopback). Default: none. */
  security?: ClientSecurity;
  /** Points kept, newest last. Default 5000. */
  maxPoints?: number;
  /** On the first subscription, start with the items sampled in the last this many seconds (`?since=`). Default 604 800 (7 d). */
  sinceSeconds?: number;
  /** Called for every new point, in order. */
  onPoint(p: Point): void;
  /** Called when items will not come (the sketch's `{"gap":…}` frames, or a restarted stream's evicted start). */
  onGap?(g: { from: number; to: number; reason: string; epoch: string }): void;
  /** First retry delay, doubled up to `maxBackoff`, times a random factor in [0.5, 1). Default 250. */
  backoff?: number;
  /** Longest retry delay. Default 5000. */
  maxBackoff?: number;
  /** Clock, s since the epoch. */
  now?: () => number;
  log?: (line: string) => void;
}

/** See the module comment. */
export class Relay {
  readonly #o: RelayOptions & { maxPoints: number };
  readonly #points: Point[] = [];
  readonly #subscriber: StreamSubscriber;
  #units: Record<string, string> = {};

  constructor(options: RelayOptions) {
    this.#o = { ...options, maxPoints: options.maxPoints ?? 5000 };
    const now = options.now ?? (() => Date.now() / 1000);
    this.#subscriber = new StreamSubscriber({
      url: options.url,
      path: options.stream,
      name: options.sketch,
      since: Math.floor(now() - (options.sinceSeconds ?? 7 * 86400)),
      key: options.security,
      ca: options.security?.ca,
      backoffMs: options.backoff ?? 250,
      maxBackoffMs: options.maxBackoff ?? 5000,
      onItem: (item, epoch) => this.#item(item, epoch),
      onGap: (gap, epoch) => this.#o.onGap?.({ from: gap.from, to: gap.to, reason: gap.reason, epoch }),
      log: options.log,
    });
  }

  /** The points held, oldest first (a copy). */
  points(): Point[] {
    return this.#points.slice();
  }

  /** The newest point held. */
  get last(): Point | undefined {
    return this.#points.at(-1);
  }

  /** Units learned from the data (`{"temperature": 21.5, "unit": "°C"}` → `temperature: °C`). */
  get units(): Record<string, string> {
    return this.#units;
  }

  /** Whether the subscription is open. */
  get connected(): boolean {
    return this.#subscriber.connected;
  }

  /** Subscribes (does nothing while subscribed or waiting to retry). */
  start(): void {
    this.#subscriber.start();
  }

  /** The sketch moved: the next subscription goes to `url`. */
  retarget(url: string): void {
    this.#subscriber.retarget(url);
  }

  /** Reconnects now when waiting for a retry (the sketch came back). */
  nudge(): void {
    this.#subscriber.nudge();
  }

  close(): void {
    this.#subscriber.close();
  }

  #item(it: ItemFrame, epoch: string): void {
    const last = this.last;
    // Never backwards in time (uPlot's x must ascend); the subscriber already drops repeats.
    if (last && it.time < last.time) return;
    const p: Point = { epoch, seq: it.seq, time: it.time, values: Object.fromEntries(numericFields(it.data)) };
    const trace = it.data && typeof it.data === 'object' ? (it.data as { trace?: unknown }).trace : undefined;
    if (typeof trace === 'string' && TRACE_ID.test(trace)) p.trace = trace;
    this.#learnUnits(it.data, p.values);
    this.#points.push(p);
    if (this.#points.length > this.#o.maxPoints) this.#points.splice(0, this.#points.length - this.#o.maxPoints);
    this.#o.onPoint(p);
  }

  #learnUnits(data: unknown, values: Record<string, number>): void {
    const unit = data && typeof data === 'object' ? (data as { unit?: unknown }).unit : undefined;
    const fields = Object.keys(values);
    if (typeof unit === 'string' && unit.length <= 16 && fields.length === 1 && this.#units[fields[0]!] !== unit) {
      this.#units = { ...this.#units, [fields[0]!]: unit };
    }
  }
}
