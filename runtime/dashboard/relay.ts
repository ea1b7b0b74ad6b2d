/**
 * One subscription of the dashboard to one stream of one sketch (`sketchnet.v2`), however many
 * pages are open: it keeps the newest points in a bounded buffer and hands every new one on.
 * It resumes after a drop with `?after_seq=S&epoch=E`, so nothing is missed or repeated; after
 * the sketch restarted (a new epoch) it takes the new epoch's history from seq 1.
 */
import type https from 'node:https';
import WebSocket from 'ws';
import { decodeReply, SUBPROTOCOL } from '../net/protocol.js';
import { oneLine } from '../errors.js';
import { numericFields } from '../streams/fields.js';

/** One plotted point: the numeric fields of an item's data at its sample time. */
export interface Point {
  /** The stream's epoch when the item was published. */
  epoch: string;
  seq: number;
  /** Sample time, s since the epoch. */
  time: number;
  /** Numeric top-level fields of the item's data (a bare number is `value`), `time` left out. */
  values: Record<string, number>;
}

/** Options of {@link Relay}. Times in ms unless named otherwise. */
export interface RelayOptions {
  sketch: string;
  stream: string;
  /** The sketch's base URL now (`ws://H:P/`), undefined while it is not known. */
  url(): string | undefined;
  /** Headers and TLS options for a URL (keys, CA). May throw one line (then retried later). */
  reach(url: URL): { headers: Record<string, string>; tls: https.RequestOptions };
  /** Points kept, newest last. Default 5000. */
  maxPoints?: number;
  /** On the first subscription, start with the items sampled in the last this many seconds (`?since=`). Default 604 800 (7 d). */
  sinceSeconds?: number;
  /** Called for every new point, in order. */
  onPoint(p: Point): void;
  /** Called when the sketch says items will not come (`{"gap":…}`). */
  onGap?(g: { from: number; to: number; reason: string; epoch: string }): void;
  /** First retry delay, doubled up to `maxBackoff`, ±20 %. Default 250. */
  backoff?: number;
  /** Longest retry delay. Default 5000. */
  maxBackoff?: number;
  /** Clock, s since the epoch. */
  now?: () => number;
  log?: (line: string) => void;
}

/** See the module comment. */
export class Relay {
  readonly #o: Required<Omit<RelayOptions, 'onGap'>> & Pick<RelayOptions, 'onGap'>;
  readonly #points: Point[] = [];
  #units: Record<string, string> = {};
  #ws?: WebSocket;
  #epoch?: string;
  #closed = false;
  #timer?: NodeJS.Timeout;
  #delay: number;
  #lastError = '';

  constructor(options: RelayOptions) {
    this.#o = {
      maxPoints: 5000,
      sinceSeconds: 7 * 86400,
      backoff: 250,
      maxBackoff: 5000,
      now: () => Date.now() / 1000,
      log: () => {},
      ...options,
    };
    this.#delay = this.#o.backoff;
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
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Subscribes (again, when not connected); call when the sketch (re)appears. */
  start(): void {
    if (this.#closed || this.#ws || this.#timer) return;
    this.#connect();
  }

  /** Reconnects now when waiting for a retry (the sketch came back). */
  nudge(): void {
    if (this.#timer && !this.#ws) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#connect();
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000);
    this.#ws = undefined;
  }

  #connect(): void {
    const base = this.#o.url();
    if (!base) return this.#retry('no address');
    const url = new URL(base);
    url.pathname = this.#o.stream;
    url.search = '';
    const last = this.last;
    if (last) {
      url.searchParams.set('after_seq', String(last.seq));
      url.searchParams.set('epoch', last.epoch);
    } else url.searchParams.set('since', String(Math.floor(this.#o.now() - this.#o.sinceSeconds)));
    let ws: WebSocket;
    try {
      const { headers, tls } = this.#o.reach(url);
      ws = new WebSocket(url, [SUBPROTOCOL], { headers, perMessageDeflate: false, handshakeTimeout: 5000, ...(tls as WebSocket.ClientOptions) });
    } catch (err) {
      return this.#retry(oneLine(err));
    }
    this.#ws = ws;
    let why = '';
    ws.on('unexpected-response', (_req, res) => {
      why = `HTTP ${res.statusCode}`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => (why ||= oneLine(err)));
    ws.on('message', (data, binary) => {
      if (!binary) this.#frame(data.toString());
    });
    ws.on('close', (code) => {
      if (this.#ws === ws) this.#ws = undefined;
      if (!this.#closed) this.#retry(why || `closed ${code}`);
    });
  }

  #frame(text: string): void {
    let reply;
    try {
      reply = decodeReply(text);
    } catch {
      return;
    }
    if ('subscribed' in reply) {
      this.#epoch = reply.subscribed.epoch;
      this.#delay = this.#o.backoff;
      if (this.#lastError) this.#o.log(`${this.#o.sketch}${this.#o.stream}: subscribed again`);
      this.#lastError = '';
    } else if ('item' in reply && this.#epoch !== undefined) {
      const it = reply.item;
      const last = this.last;
      // Never twice, never backwards in time (uPlot's x must ascend).
      if (last && ((last.epoch === this.#epoch && it.seq <= last.seq) || it.time < last.time)) return;
      const p: Point = { epoch: this.#epoch, seq: it.seq, time: it.time, values: Object.fromEntries(numericFields(it.data)) };
      this.#learnUnits(it.data, p.values);
      this.#points.push(p);
      if (this.#points.length > this.#o.maxPoints) this.#points.splice(0, this.#points.length - this.#o.maxPoints);
      this.#o.onPoint(p);
    } else if ('gap' in reply && this.#epoch !== undefined) {
      this.#o.onGap?.({ ...reply.gap, epoch: this.#epoch });
    }
  }

  #learnUnits(data: unknown, values: Record<string, number>): void {
    const unit = data && typeof data === 'object' ? (data as { unit?: unknown }).unit : undefined;
    const fields = Object.keys(values);
    if (typeof unit === 'string' && unit.length <= 16 && fields.length === 1 && this.#units[fields[0]!] !== unit) {
      this.#units = { ...this.#units, [fields[0]!]: unit };
    }
  }

  #retry(why: string): void {
    if (this.#closed) return;
    if (why !== this.#lastError) this.#o.log(`${this.#o.sketch}${this.#o.stream}: not subscribed (${why}): retrying`);
    this.#lastError = why;
    const delay = this.#delay * (0.8 + Math.random() * 0.4);
    this.#delay = Math.min(this.#delay * 2, this.#o.maxBackoff);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
    this.#timer.unref?.();
  }
}
