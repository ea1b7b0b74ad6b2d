/**
 * A client of one stream of one sketch that never gives up: it subscribes over
 * `sketchnet.v2`, and after any disconnection subscribes again with backoff and jitter,
 * resuming after the last item it received (`?after_seq=S&epoch=E`). What a resume cannot
 * deliver is reported as a gap, and a restarted stream (a new epoch) as a new segment.
 */
import WebSocket from 'ws';
import type tls from 'node:tls';
import { oneLine } from '../errors.js';
import { decodeReply, encodeCredit, MAX_CREDIT, SUBPROTOCOL, type GapFrame, type ItemFrame } from '../net/protocol.js';
import { keyHeaders, type KeyUse } from '../security/transport.js';
import { clientTlsOptions } from '../security/tls.js';

/** Where a subscriber resumes: after `seq` of `epoch`. */
export interface ResumePoint {
  epoch: string;
  seq: number;
}

/** Options of {@link StreamSubscriber}. */
export interface StreamSubscriberOptions {
  /** The sketch's base URL, `ws://HOST:PORT/` (or `wss://`); {@link StreamSubscriber.retarget} changes it. */
  url: string | URL;
  /** The stream's path, e.g. `/readings`. */
  path: string;
  /** Label for log lines and TLS verification (the sketch's instance name). */
  name: string;
  /** Resume after this item (the newest already stored). Default: none: every item the sketch holds (`?history=all`), or see `since`. */
  resume?: ResumePoint;
  /** Without `resume`, start with the items sampled at or after this time (`?since=`, s since the epoch) instead of every item held. Default: none. */
  since?: number;
  /** The key to present, and whether plain `ws://` beyond loopback may carry it. Default: none. */
  key?: KeyUse;
  /** CA the sketch's certificate must chain to (`--ca`). Default: the system's. */
  ca?: string | Buffer;
  /** First reconnect delay, in ms; doubled per failed attempt. Default 250. */
  backoffMs?: number;
  /** Longest reconnect delay, in ms. Default 10 000. */
  maxBackoffMs?: number;
  /** Opening-handshake timeout, in ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /**
   * Credit-based flow control: subscribe with `?credit=N` and grant more (`{"credit":…}`) as
   * items are handed to `onItem`, half the window at a time, so that at most N items are ever
   * on their way (the sketch keeps the rest in its history, where its slow-subscriber policy
   * sees them). A whole number from 2 to 1 000 000; a sketch whose `maxCredit` is lower cuts it
   * to that, and one that does not know credit (its `subscribed` frame has none) is never sent
   * a grant. Default: none (the sketch writes while the connection takes data).
   */
  credit?: number;
  /** An item arrived (`epoch` is its stream's epoch). */
  onItem: (item: ItemFrame, epoch: string) => void;
  /** Items `from`…`to` of `epoch` will never arrive. */
  onGap: (gap: GapFrame, epoch: string) => void;
  /** The stream has a new epoch (it restarted: seq begins again); `previous` is undefined on the first subscription. */
  onSegment?: (epoch: string, previous: string | undefined) => void;
  /** Where one-line notices go. Default: nowhere. */
  log?: (line: string) => void;
  /** Opens the WebSocket (tests inject a fake). Default: `new WebSocket(url, protocols, options)` from ws. */
  connect?: (url: URL, protocols: string[], options: WebSocket.ClientOptions) => WebSocket;
  /** Random number in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

/** What a {@link StreamSubscriber} reports in the recorder's status. */
export interface StreamSubscriberStatus {
  sketch: string;
  stream: string;
  connected: boolean;
  epoch: string | null;
  seq: number;
  /** Subscriptions made after the first. */
  reconnects: number;
}

/**
 * A reconnecting `sketchnet.v2` subscriber of one stream. Items are reported once each, in
 * order: one with a seq at or below the last one reported in the same epoch is skipped.
 * Reconnects wait `backoffMs · 2^attempt` (at most `maxBackoffMs`), times a random factor in
 * [0.5, 1) so that many subscribers do not reconnect in step; a subscription that delivered
 * its `subscribed` frame resets the attempts.
 *
 * Gaps reported: the sketch's own `{"gap":…}` frames; and, when the stream restarted (a new
 * epoch) and its history no longer begins at seq 1, the items `1 … first−1` of the new epoch
 * (reason `evicted`).
 */
export class StreamSubscriber {
  readonly path: string;
  readonly name: string;
  readonly #o: StreamSubscriberOptions;
  #url: URL;
  #epoch?: string;
  #seq = 0;
  #ws?: WebSocket;
  #connected = false;
  #attempt = 0;
  #reconnects = 0;
  #subscriptions = 0;
  #timer?: NodeJS.Timeout;
  #closed = false;
  #lastError = '';
  /** Items handed to `onItem` since the last grant; undefined when this subscription has no credit. */
  #consumed?: number;

  /** @throws RangeError for a `credit` that is not a whole number from 2 to 1 000 000. */
  constructor(options: StreamSubscriberOptions) {
    const credit = options.credit;
    if (credit !== undefined && !(Number.isInteger(credit) && credit >= 2 && credit <= MAX_CREDIT)) {
      throw new RangeError(`StreamSubscriber credit must be a whole number from 2 to ${MAX_CREDIT}, got ${String(credit)}`);
    }
    this.#o = options;
    this.path = options.path;
    this.name = options.name;
    this.#url = new URL(String(options.url));
    if (options.resume) {
      this.#epoch = options.resume.epoch;
      this.#seq = options.resume.seq;
    }
  }

  /** Subscribes (at once). */
  start(): void {
    if (!this.#closed && !this.#ws && !this.#timer) this.#open();
  }

  /** The sketch moved (a new address or port): the next subscription goes to `url`; a dead connection is dropped now. */
  retarget(url: string | URL): void {
    const next = new URL(String(url));
    if (next.href === this.#url.href) return;
    this.#url = next;
    if (!this.#connected && this.#ws) this.#ws.terminate();
    else if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#open();
    }
  }

  /** Subscribes now when waiting to retry (the sketch was seen again); does nothing otherwise. */
  nudge(): void {
    if (this.#closed || this.#ws || !this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#open();
  }

  /** Whether the subscription is open (its `subscribed` frame arrived). */
  get connected(): boolean {
    return this.#connected;
  }

  /** The newest item reported, as a resume point. */
  get resumePoint(): ResumePoint | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, seq: this.#seq };
  }

  status(): StreamSubscriberStatus {
    return { sketch: this.name, stream: this.path, connected: this.#connected, epoch: this.#epoch ?? null, seq: this.#seq, reconnects: this.#reconnects };
  }

  /** The subscription URL: `?after_seq=S&epoch=E` to resume, else `?since=T` when `since` was given, else `?history=all`; then `&credit=N` with `credit`. */
  url(): URL {
    const u = new URL(this.#url.href);
    u.pathname = this.path;
    u.search = '';
    u.hash = '';
    if (this.#epoch !== undefined) {
      u.searchParams.set('after_seq', String(this.#seq));
      u.searchParams.set('epoch', this.#epoch);
    } else if (this.#o.since !== undefined) u.searchParams.set('since', String(this.#o.since));
    else u.searchParams.set('history', 'all');
    if (this.#o.credit !== undefined) u.searchParams.set('credit', String(this.#o.credit));
    return u;
  }

  #open(): void {
    this.#timer = undefined;
    const url = this.url();
    let ws: WebSocket;
    try {
      const headers = keyHeaders(url, this.#o.key ?? {}, (line) => this.#log(line));
      const tlsOptions: tls.ConnectionOptions = clientTlsOptions(url, this.name, this.#o.ca, this.name);
      const options: WebSocket.ClientOptions = {
        handshakeTimeout: this.#o.handshakeTimeoutMs ?? 5000,
        perMessageDeflate: false,
        headers,
        ...(tlsOptions as WebSocket.ClientOptions),
      };
      ws = (this.#o.connect ?? ((u, p, o) => new WebSocket(u, p, o)))(url, [SUBPROTOCOL], options);
    } catch (err) {
      this.#failed(oneLine(err));
      return;
    }
    this.#ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      this.#failed(`refused with HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => this.#failed(oneLine(err)));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.#frame(data.toString());
    });
    ws.on('close', () => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      const was = this.#connected;
      this.#connected = false;
      if (was) this.#log(`${this.name}${this.path}: connection lost; resuming after seq ${this.#seq}`);
      this.#retry();
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
      const s = reply.subscribed;
      // Grants only to a sketch that took the credit asked for (an older one ignores ?credit).
      this.#consumed = this.#o.credit !== undefined && s.credit !== undefined ? 0 : undefined;
      this.#connected = true;
      this.#attempt = 0;
      this.#lastError = '';
      if (this.#subscriptions++ > 0) this.#reconnects++;
      if (s.epoch !== this.#epoch) {
        const previous = this.#epoch;
        this.#epoch = s.epoch;
        this.#seq = 0;
        this.#o.onSegment?.(s.epoch, previous);
        // A restarted stream whose history no longer begins at 1: those items are gone.
        if (s.first > 1) this.#o.onGap({ stream: this.path, from: 1, to: s.first - 1, reason: 'evicted' }, s.epoch);
      }
    } else if ('item' in reply) {
      if (this.#epoch === undefined) return;
      if (reply.item.seq > this.#seq) {
        this.#seq = reply.item.seq;
        this.#o.onItem(reply.item, this.#epoch);
      }
      this.#spent(); // a duplicate spent credit too
    } else if ('gap' in reply) {
      if (this.#epoch === undefined) return;
      this.#o.onGap(reply.gap, this.#epoch);
      if (reply.gap.to > this.#seq) this.#seq = reply.gap.to;
    }
  }

  /** One item taken: grants half the window once that many were taken. */
  #spent(): void {
    if (this.#consumed === undefined) return;
    const half = Math.floor(this.#o.credit! / 2);
    if (++this.#consumed < half) return;
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(encodeCredit(this.#consumed));
    this.#consumed = 0;
  }

  #failed(why: string): void {
    if (why !== this.#lastError && !this.#closed) this.#log(`${this.name}${this.path}: ${why}; retrying with backoff`);
    this.#lastError = why;
    if (!this.#ws) this.#retry();
  }

  #retry(): void {
    if (this.#closed || this.#timer) return;
    const base = Math.min(this.#o.maxBackoffMs ?? 10_000, (this.#o.backoffMs ?? 250) * 2 ** Math.min(this.#attempt, 20));
    this.#attempt++;
    const delay = base * (0.5 + 0.5 * (this.#o.random ?? Math.random)());
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  #log(line: string): void {
    this.#o.log?.(line);
  }

  /** Stops: closes the connection with 1000 and cancels any pending reconnect. Safe to call twice. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    this.#connected = false;
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws?.terminate();
  }
}
