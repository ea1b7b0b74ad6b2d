/**
 * Links: the traffic between this sketch and the others, as `GET /.well-known/sketch` reports it
 * under `links` — one outgoing link per peer the sketch sends to (`stream()`, `--to`, an
 * outbox, through the broker) and one incoming link per client connection. Counting is a few
 * additions per message; rates and acknowledgement percentiles are worked out when the status
 * is read, from twelve 5-second slots (the last minute).
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { printable } from '../text.js';
import type { Sender } from './route.js';
import type { Tracer } from './spans.js';

/** How an outgoing link travels: a WebSocket to an address found over mDNS, to a URL (given, or advertised on the broker), or through the broker. */
export type LinkVia = 'mdns' | 'url' | 'broker';
/** An outgoing link's connection: open, being made again after a failure, or none (made on the next send). */
export type LinkState = 'connected' | 'retrying' | 'idle';

/** One outgoing link in the status. Times in s since the epoch. */
export interface OutgoingLinkStatus {
  /** The peer as given: an instance name or a `ws://` URL. */
  to: string;
  via: LinkVia;
  state: LinkState;
  /** Messages sent since the sketch started (resends not counted). */
  sent: number;
  /** Of those, acknowledged. */
  acked: number;
  /** Of those, failed (an error reply, or the peer unreachable). */
  errors: number;
  /** Sent and not yet acknowledged or failed. */
  inFlight: number;
  /** Waiting in an outbox (`--to` on a producer), not yet handed to the connection. */
  queued: number;
  /** Dropped by an outbox for want of room (its `dropped`). */
  dropped: number;
  /** Messages sent per second over the last minute (over the link's life when younger). */
  rate: number;
  /** Send → acknowledgement, ms, over the last minute (±9 %: 4 buckets per octave); null when none. */
  ackMs: { p50: number | null; p99: number | null };
  /** When the last message was sent, s since the epoch; null before the first. */
  lastAt: number | null;
}

/** One incoming link (a client connection) in the status. */
export interface IncomingLinkStatus {
  /** The client sketch's instance name (a sketchnet client states it: header `sketchnet-from`), else its address `IP:PORT`. */
  from: string;
  /** The request path it connected on. */
  path: string;
  /** Messages received on this connection. */
  received: number;
  /** Messages per second over the last minute. */
  rate: number;
  /** When the last one came, s since the epoch; null before the first. */
  lastAt: number | null;
}

/** `status.links`. */
export interface LinksStatus {
  out: OutgoingLinkStatus[];
  in: IncomingLinkStatus[];
}

/** Request header a sketchnet client names its sketch with on the upgrade. */
export const FROM_HEADER = 'sketchnet-from';

const SLOT_MS = 5000;
const SLOTS = 12;
/** Histogram buckets per octave of µs, and octaves (1 µs … 2^24 µs ≈ 16.8 s; slower acks count in the last bucket). */
const PER_OCTAVE = 4;
const BUCKETS = 24 * PER_OCTAVE;

/** Counts over the last minute in 5-s slots, and (when acknowledgements are timed) a latency histogram per slot. */
export class LinkMeter {
  /** Messages since the start. */
  count = 0;
  /** When the last came, ms since the epoch (0: never). */
  lastAt = 0;
  readonly #first: number;
  readonly #counts = new Uint32Array(SLOTS);
  readonly #epochs = new Float64Array(SLOTS).fill(-1);
  #hist?: Uint32Array;
  #histEpochs?: Float64Array;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#first = now();
  }

  /** One message, now. */
  mark(): void {
    const now = this.#now();
    this.count++;
    this.lastAt = now;
    const epoch = Math.floor(now / SLOT_MS);
    const i = epoch % SLOTS;
    if (this.#epochs[i] !== epoch) {
      this.#epochs[i] = epoch;
      this.#counts[i] = 0;
    }
    this.#counts[i]!++;
  }

  /** One acknowledgement that took `ms`. */
  time(ms: number): void {
    const epoch = Math.floor(this.#now() / SLOT_MS);
    const i = epoch % SLOTS;
    this.#hist ??= new Uint32Array(SLOTS * BUCKETS);
    this.#histEpochs ??= new Float64Array(SLOTS).fill(-1);
    if (this.#histEpochs[i] !== epoch) {
      this.#histEpochs[i] = epoch;
      this.#hist.fill(0, i * BUCKETS, (i + 1) * BUCKETS);
    }
    const us = ms * 1000;
    const b = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE));
    this.#hist[i * BUCKETS + b]!++;
  }

  /** Messages per second over the last minute (over the meter's life when younger, at least 1 s). */
  rate(): number {
    const now = this.#now();
    const epoch = Math.floor(now / SLOT_MS);
    let n = 0;
    for (let i = 0; i < SLOTS; i++) if (this.#epochs[i]! > epoch - SLOTS) n += this.#counts[i]!;
    const span = Math.min(SLOTS * SLOT_MS, Math.max(1000, now - this.#first)) / 1000;
    return Math.round((n / span) * 1000) / 1000;
  }

  /** The `q` quantile (0–1) of the timed acknowledgements of the last minute, ms; null when none. */
  quantile(q: number): number | null {
    if (!this.#hist) return null;
    const epoch = Math.floor(this.#now() / SLOT_MS);
    const sums = new Float64Array(BUCKETS);
    let total = 0;
    for (let i = 0; i < SLOTS; i++) {
      if (!(this.#histEpochs![i]! > epoch - SLOTS)) continue;
      for (let b = 0; b < BUCKETS; b++) {
        const c = this.#hist[i * BUCKETS + b]!;
        sums[b]! += c;
        total += c;
      }
    }
    if (total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += sums[b]!;
      if (seen >= rank) return Math.round(2 ** ((b + 0.5) / PER_OCTAVE)) / 1000; // the bucket's geometric middle, µs → ms
    }
    return null;
  }

  /** `lastAt` in s since the epoch, or null. */
  get lastAtSeconds(): number | null {
    return this.lastAt ? this.lastAt / 1000 : null;
  }
}

/** What an outgoing link asks of its sender beyond sending: how it travels and whether it is connected. */
export interface LinkedSender extends Sender {
  /** How it travels now. */
  readonly via?: LinkVia;
  /** Its connection now. */
  readonly state?: LinkState;
}

/** Options of {@link OutgoingLink}. */
export interface OutgoingLinkOptions {
  /** Records a `send` span per message and carries its trace context. Default none. */
  tracer?: Tracer;
  /** The outbox in front of it, for `queued` and `dropped`. */
  queue?: () => { queued: number; dropped: number };
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/**
 * A sender to one peer, counted: every `send()` goes through it to the real sender (a Peer, a
 * Route or a BrokerPeer), is timed to its acknowledgement and, with a tracer, recorded as a
 * span whose trace context travels with the message.
 */
export class OutgoingLink implements Sender {
  readonly to: string;
  readonly sender: LinkedSender;
  readonly #meter: LinkMeter;
  readonly #o: OutgoingLinkOptions;
  #acked = 0;
  #errors = 0;
  #inFlight = 0;

  constructor(to: string, sender: LinkedSender, options: OutgoingLinkOptions = {}) {
    this.to = to;
    this.sender = sender;
    this.#o = options;
    this.#meter = new LinkMeter(options.now);
  }

  send(text: string): Promise<string> {
    this.#meter.mark();
    this.#inFlight++;
    const span = this.#o.tracer?.client(this.to, '', text); // its `via` once known: a route is chosen on the first send
    const t0 = performance.now();
    return this.sender.send(text, span?.traceparent).then(
      (ack) => {
        this.#inFlight--;
        this.#acked++;
        this.#meter.time(performance.now() - t0);
        if (span?.recording) span.end(true, ack, this.sender.via ?? 'mdns');
        return ack;
      },
      (err: Error) => {
        this.#inFlight--;
        this.#errors++;
        if (span?.recording) span.end(false, err.message, this.sender.via ?? 'mdns');
        throw err;
      },
    );
  }

  close(): Promise<void> {
    return this.sender.close();
  }

  status(): OutgoingLinkStatus {
    const q = this.#o.queue?.() ?? { queued: 0, dropped: 0 };
    const m = this.#meter;
    return {
      to: this.to,
      via: this.sender.via ?? 'mdns',
      state: this.sender.state ?? 'idle',
      sent: m.count,
      acked: this.#acked,
      errors: this.#errors,
      inFlight: this.#inFlight,
      queued: q.queued,
      dropped: q.dropped,
      rate: m.rate(),
      ackMs: { p50: m.quantile(0.5), p99: m.quantile(0.99) },
      lastAt: m.lastAtSeconds,
    };
  }
}

/** The client connections of a sketch, each with its meter. */
export class IncomingLinks<K extends object = object> {
  readonly #links = new Map<K, { from: string; path: string; meter: LinkMeter }>();
  readonly #now?: () => number;

  constructor(now?: () => number) {
    this.#now = now;
  }

  /** A connection from `from` on `path`: returns the meter to `mark()` per message. */
  add(key: K, from: string, path: string): LinkMeter {
    const meter = new LinkMeter(this.#now);
    this.#links.set(key, { from, path, meter });
    return meter;
  }

  remove(key: K): void {
    this.#links.delete(key);
  }

  status(): IncomingLinkStatus[] {
    return [...this.#links.values()].map(({ from, path, meter }) => ({ from, path, received: meter.count, rate: meter.rate(), lastAt: meter.lastAtSeconds }));
  }
}

/** Who is connecting: the sketch named by a sketchnet client's `sketchnet-from` header (percent-decoded, at most 64 printable characters), else the remote address `IP:PORT`. */
export function clientName(req: IncomingMessage): string {
  const named = req.headers[FROM_HEADER];
  if (typeof named === 'string' && named) {
    let name = named;
    try {
      name = decodeURIComponent(named);
    } catch {
      // not percent-encoded after all: as it came
    }
    return printable(name, 64);
  }
  const a = req.socket.remoteAddress ?? '?';
  return `${a.includes(':') ? `[${a}]` : a}:${req.socket.remotePort ?? 0}`;
}
