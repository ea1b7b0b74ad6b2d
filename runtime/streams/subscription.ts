import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { textFrame } from '../net/frame.js';
import { encodeGap, encodeSubscribed, usesEnvelopes, type GapReason } from '../net/protocol.js';
import type { StreamItem } from './history.js';
import type { DeliverPolicy } from './query.js';
import type { Stream } from './stream.js';

/** How long a subscriber closed with 1013 gets for the close handshake before its socket is destroyed, in ms. */
export const STALLED_CLOSE_GRACE_MS = 500;

/** One subscriber's state, as reported in the status (`GET /.well-known/sketch`). */
export interface SubscriberStatus {
  /** Connection number, unique within the sketch. */
  id: number;
  /** Remote address and port, e.g. `127.0.0.1:51234`. */
  remote: string;
  /** `sketchnet.v2` or `plain`. */
  protocol: string;
  /** Items sent to it. */
  sent: number;
  /**
   * Items skipped for it: conflated away (`delivery: 'latest'`) or evicted before it read
   * them — for a `latest` subscriber stalled on live items, also the ones it will skip when it
   * reads again (all it is behind but the newest).
   */
  drops: number;
  /** Items published that it has not been sent yet. */
  behind: number;
  /** Bytes written to its socket that the kernel has not taken yet. */
  buffered: number;
}

/** A connection as the stream sees it. */
export interface SubscriberConnection {
  ws: WebSocket;
  /** The TCP socket under `ws`, written to directly with pre-built frames. */
  socket: Duplex;
  id: number;
  remote: string;
}

/**
 * One subscriber of one stream. It reads the stream's history by sequence number: the
 * history is its backlog, so a subscriber that falls behind costs no copy of the items, only
 * a position. It writes while its socket takes data and waits for `drain` otherwise.
 * - `delivery: 'all'`: every item in order; once the items published for it but not sent
 *   (plus its socket's unsent bytes) pass `maxBuffered`, or an item it has not been sent is
 *   evicted, it is closed with 1013 and its socket destroyed after {@link STALLED_CLOSE_GRACE_MS}.
 * - `delivery: 'latest'`: when it cannot keep up with live items it skips to the newest one
 *   (a `gap` with reason `dropped` for v2 clients), and is never closed for being slow.
 * History it asked for (`?last`, `?history=all`, `?since`, `?after_seq`) is read in order;
 * items evicted before it got to them are reported as a `gap` with reason `evicted`.
 */
export class Subscription {
  readonly conn: SubscriberConnection;
  readonly #stream: Stream;
  readonly #v2: boolean;
  /** Next seq to send. */
  #next: number;
  /** Seqs up to this one were asked for as history (not live). */
  #catchUpEnd: number;
  #waiting = false;
  #closed = false;
  #sent = 0;
  #drops = 0;

  constructor(stream: Stream, conn: SubscriberConnection, policy: DeliverPolicy) {
    this.#stream = stream;
    this.conn = conn;
    this.#v2 = usesEnvelopes(conn.ws.protocol);
    const h = stream.history;
    this.#next = startSeq(stream, policy);
    this.#catchUpEnd = h.lastSeq;
    if (this.#v2) {
      this.#write(
        textFrame(
          encodeSubscribed({ stream: stream.path, epoch: stream.epoch, first: h.firstSeq, last: h.lastSeq, delivery: stream.delivery }),
        ),
      );
    }
    this.pump();
  }

  /** Whether it was closed for being too slow or removed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Items skipped for this subscriber so far. */
  get drops(): number {
    return this.#drops;
  }

  /** Oldest seq this subscriber still needs kept in the history (`delivery: 'all'`), else Infinity. */
  get needs(): number {
    return this.#closed || this.#stream.delivery !== 'all' ? Infinity : this.#next;
  }

  /** Whether this subscriber speaks `sketchnet.v2` (gets envelopes). */
  get v2(): boolean {
    return this.#v2;
  }

  /**
   * A new item was appended to the stream. `frame` builds (once per item, shared by every
   * subscriber of the same protocol) the frame for it.
   */
  offer(item: StreamItem, frame: (v2: boolean) => Buffer): void {
    if (this.#closed) return;
    if (!this.#waiting && this.#next === item.seq) {
      this.#next++;
      this.#sent++;
      if (!this.#write(frame(this.#v2))) this.#wait();
      return;
    }
    if (this.#stream.delivery === 'all') this.#checkBound();
    if (!this.#waiting) this.pump();
  }

  /** Sends what it is owed from the history until its socket pushes back. */
  pump(): void {
    if (this.#closed || this.#waiting || this.conn.ws.readyState !== WebSocket.OPEN) return;
    const h = this.#stream.history;
    const socket = this.conn.socket;
    socket.cork();
    try {
      while (this.#next <= h.lastSeq) {
        const live = this.#next > this.#catchUpEnd;
        if (live && this.#stream.delivery === 'latest' && this.#next < h.lastSeq) {
          // Conflation: a live subscriber that fell behind skips to the newest item.
          this.#gap(this.#next, h.lastSeq - 1, 'dropped');
          this.#next = h.lastSeq;
        } else if (this.#next < h.firstSeq) {
          if (live && this.#stream.delivery === 'all') return this.#tooSlow('items it had not been sent were evicted');
          this.#gap(this.#next, h.firstSeq - 1, 'evicted');
          this.#next = h.firstSeq;
          continue;
        }
        const item = h.get(this.#next++)!;
        this.#sent++;
        if (!this.#write(textFrame(this.#v2 ? this.#stream.envelope(item) : item.text))) return this.#wait();
      }
    } finally {
      socket.uncork();
    }
  }

  /** Stops sending (the connection closed). */
  remove(): void {
    this.#closed = true;
    this.conn.socket.off('drain', this.#onDrain);
  }

  /** This subscriber's line in the status. */
  status(): SubscriberStatus {
    const behind = Math.max(0, this.#stream.history.lastSeq - this.#next + 1);
    const conflating = this.#stream.delivery === 'latest' && this.#waiting && this.#next > this.#catchUpEnd;
    return {
      id: this.conn.id,
      remote: this.conn.remote,
      protocol: this.#v2 ? this.conn.ws.protocol : 'plain',
      sent: this.#sent,
      drops: this.#drops + (conflating ? Math.max(0, behind - 1) : 0),
      behind,
      buffered: this.conn.socket.writableLength,
    };
  }

  #write(frame: Buffer): boolean {
    return this.conn.socket.write(frame);
  }

  #wait(): void {
    this.#waiting = true;
    this.conn.socket.once('drain', this.#onDrain);
  }

  readonly #onDrain = () => {
    this.#waiting = false;
    // Still catching up on history: what was published meanwhile is read in order too ('latest').
    if (this.#stream.delivery === 'latest' && this.#next <= this.#catchUpEnd) this.#catchUpEnd = this.#stream.history.lastSeq;
    this.pump();
  };

  #gap(from: number, to: number, reason: GapReason): void {
    this.#drops += to - from + 1;
    this.#stream.countDrops(to - from + 1);
    if (this.#v2) this.#write(textFrame(encodeGap({ stream: this.#stream.path, from, to, reason })));
  }

  /** `delivery: 'all'`: closes the subscriber once its unsent live items pass the bound. */
  #checkBound(): void {
    const h = this.#stream.history;
    const liveFrom = Math.max(this.#next, this.#catchUpEnd + 1);
    if (liveFrom < h.firstSeq) return this.#tooSlow('items it had not been sent were evicted');
    const unsent = this.conn.socket.writableLength + h.bytesFrom(liveFrom);
    if (unsent > this.#stream.maxBuffered) this.#tooSlow(`${unsent} bytes unsent, over the ${this.#stream.maxBuffered} byte bound`);
  }

  #tooSlow(why: string): void {
    this.#closed = true;
    this.#stream.closedSlow(this, why);
    const ws = this.conn.ws;
    ws.close(1013, 'subscriber too slow');
    // A stalled reader never completes the close handshake: destroy the socket promptly
    // instead of waiting for ws's 30 s close timeout, releasing its buffered bytes.
    setTimeout(() => ws.terminate(), STALLED_CLOSE_GRACE_MS).unref();
  }
}

/** The first seq a new subscriber is sent, from its deliver policy. */
function startSeq(stream: Stream, policy: DeliverPolicy): number {
  const h = stream.history;
  switch (policy.deliver) {
    case 'last':
      return Math.max(h.firstSeq, h.lastSeq - policy.n + 1);
    case 'all':
      return h.firstSeq;
    case 'new':
      return h.lastSeq + 1;
    case 'since':
      return h.seqAtTime(policy.time);
    case 'after':
      if (policy.epoch !== undefined && policy.epoch !== stream.epoch) return h.firstSeq; // the stream restarted
      return Math.min(policy.seq + 1, h.lastSeq + 1);
  }
}
