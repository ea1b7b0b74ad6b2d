import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { textFrame } from '../net/frame.js';
import { encodeGap, encodeSubscribed, usesEnvelopes, type GapReason, type SubscribedFrame } from '../net/protocol.js';
import { Confirmation, Credit, PING_MIN_BYTES, pingPhase } from './flow.js';
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
  /** Items it may still be sent, for a subscriber that asked for credit (`?credit=N`); null for others. */
  credit: number | null;
  /**
   * Age of the oldest data written to it that its pong has not confirmed yet, in s (0: none
   * awaiting); null for a credit subscriber (its credit bounds what is in flight).
   */
  unconfirmed: number | null;
  /**
   * `delivery: 'latest'`: its unconfirmed data passed the staleness bound, so it is sent
   * nothing until it confirms, then only the newest item.
   */
  stale: boolean;
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
 * a position. It writes while its socket takes data and waits for `drain` otherwise, and —
 * see runtime/streams/flow.ts — either while it has credit (a v2/v3 client that asked for
 * it), or while its pongs confirm its data within the stream's staleness bound (everyone else).
 * - `delivery: 'all'`: every item in order; once the items published for it but not sent
 *   (plus its socket's unsent bytes) pass `maxBuffered`, an item it has not been sent is
 *   evicted, or (without credit) its queue is older than `staleAfterMs` — its oldest data
 *   written and awaiting its pong, or, while its socket pushes back, its oldest unsent item's
 *   wait plus that — it is closed with 1013 and its socket destroyed after
 *   {@link STALLED_CLOSE_GRACE_MS}.
 * - `delivery: 'latest'`: when it cannot keep up with live items it skips to the newest one
 *   (a `gap` with reason `dropped` for v2 clients), and is never closed for being slow. Past
 *   the staleness bound it is sent nothing until its pong arrives, then only the newest item
 *   (write-when-drained); a credit subscriber without credit likewise gets the newest item
 *   when it grants more.
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
  /** `latest`: stale, held until its pong confirms what it was sent. */
  #held = false;
  /** Past the history it asked for (its staleness is judged from then on). */
  #live: boolean;
  /** Credit-based flow control, for a v2/v3 subscriber that asked for it. */
  #credit?: Credit;
  /** Pong-confirmed flow, for everyone else. */
  #confirm?: Confirmation;
  #closed = false;
  #sent = 0;
  #drops = 0;

  /**
   * @param credit items granted when subscribing (`?credit=N`, v2/v3 only): credit-based flow
   *   control. Default: none (pong-confirmed flow; a `{"credit":N}` frame switches later).
   */
  constructor(stream: Stream, conn: SubscriberConnection, policy: DeliverPolicy, credit?: number) {
    this.#stream = stream;
    this.conn = conn;
    this.#v2 = usesEnvelopes(conn.ws.protocol);
    const h = stream.history;
    this.#next = startSeq(stream, policy);
    this.#catchUpEnd = h.lastSeq;
    this.#live = this.#next > this.#catchUpEnd;
    if (credit !== undefined && this.#v2) this.#credit = new Credit(credit, stream.maxCredit);
    else {
      this.#confirm = new Confirmation(stream.staleAfterMs, this.#ping, PING_MIN_BYTES, pingPhase(conn.id, PING_MIN_BYTES));
      conn.ws.on('pong', this.#onPong);
    }
    if (this.#v2) {
      const frame: SubscribedFrame = { stream: stream.path, epoch: stream.epoch, first: h.firstSeq, last: h.lastSeq, delivery: stream.delivery };
      if (this.#credit) frame.credit = this.#credit.left;
      this.#write(textFrame(encodeSubscribed(frame)));
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
   * subscriber of the same protocol) the frame for it; `now` is the stream's monotonic clock, ms.
   */
  offer(item: StreamItem, frame: (v2: boolean) => Buffer, now: number): void {
    if (this.#closed) return;
    const confirm = this.#confirm;
    if (confirm !== undefined && this.#live && !this.#held && confirm.stale(now)) return this.#stale(now);
    if (!this.#waiting && !this.#held && this.#next === item.seq && (this.#credit === undefined || this.#credit.left > 0)) {
      this.#next++;
      this.#sent++;
      this.#credit?.take();
      if (!this.#live) this.#goLive(now);
      let took: boolean;
      const data = frame(this.#v2);
      if (confirm?.due(now, data.length)) {
        // The item and the ping after it leave in one system call.
        const socket = this.conn.socket;
        socket.cork();
        took = this.#write(data);
        confirm.wrote(now, data.length);
        socket.uncork();
      } else {
        took = this.#write(data);
        confirm?.wrote(now, data.length);
      }
      if (!took) this.#wait();
      return;
    }
    if (this.#stream.delivery === 'all') {
      // Its socket pushes back: the queue goes on in the history, and is held to the bound too.
      // Its oldest unsent item has waited there, and will wait behind what the kernel holds
      // unconfirmed: the two together are how late it will be.
      if (confirm !== undefined && this.#waiting && this.#next > this.#catchUpEnd) {
        const oldest = this.#stream.history.get(this.#next);
        const waitedMs = oldest ? (item.published - oldest.published) * 1000 : 0;
        const aheadMs = confirm.unconfirmedMs(now);
        if (waitedMs + aheadMs > this.#stream.staleAfterMs) {
          return this.#tooSlow(
            `its oldest unsent item waited ${Math.round(waitedMs)} ms, behind ${Math.round(aheadMs)} ms of unconfirmed data: over the ${this.#stream.staleAfterMs} ms staleness bound`,
          );
        }
      }
      this.#checkBound();
    }
    if (!this.#waiting && !this.#held) this.pump(now);
  }

  /**
   * Sends what it is owed from the history until its socket pushes back (or its credit runs
   * out). `now`: the stream's monotonic clock, ms (read when not given).
   */
  pump(now = this.#stream.clock()): void {
    if (this.#closed || this.#waiting || this.#held || this.conn.ws.readyState !== WebSocket.OPEN) return;
    const h = this.#stream.history;
    const socket = this.conn.socket;
    const credit = this.#credit;
    const confirm = this.#confirm;
    socket.cork();
    try {
      while (this.#next <= h.lastSeq && (credit === undefined || credit.left > 0)) {
        const live = this.#next > this.#catchUpEnd;
        if (live && !this.#live) this.#goLive(now);
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
        credit?.take();
        const data = textFrame(this.#v2 ? this.#stream.envelope(item) : item.text);
        const took = this.#write(data);
        confirm?.wrote(now, data.length);
        if (!took) return this.#wait();
      }
    } finally {
      socket.uncork();
    }
  }

  /**
   * The subscriber granted `n` more items (a `{"credit":N}` frame): credit adds up to the
   * stream's `maxCredit`. A subscriber without credit so far switches to credit from now on.
   * @returns the credit it now holds.
   */
  grant(n: number): number {
    if (this.#closed) return 0;
    if (!this.#credit) {
      this.#credit = new Credit(0, this.#stream.maxCredit);
      this.#confirm = undefined;
      this.#held = false;
      this.conn.ws.off('pong', this.#onPong);
    }
    const left = this.#credit.grant(n);
    if (!this.#waiting) this.pump();
    return left;
  }

  /** Stops sending (the connection closed). */
  remove(): void {
    this.#closed = true;
    this.conn.socket.off('drain', this.#onDrain);
    this.conn.ws.off('pong', this.#onPong);
  }

  /** This subscriber's line in the status. */
  status(): SubscriberStatus {
    const behind = Math.max(0, this.#stream.history.lastSeq - this.#next + 1);
    const paused = this.#waiting || this.#held || this.#credit?.left === 0;
    const conflating = this.#stream.delivery === 'latest' && paused && this.#next > this.#catchUpEnd;
    return {
      id: this.conn.id,
      remote: this.conn.remote,
      protocol: this.#v2 ? this.conn.ws.protocol : 'plain',
      sent: this.#sent,
      drops: this.#drops + (conflating ? Math.max(0, behind - 1) : 0),
      behind,
      buffered: this.conn.socket.writableLength,
      credit: this.#credit?.left ?? null,
      unconfirmed: this.#confirm ? this.#confirm.unconfirmedMs(this.#stream.clock()) / 1000 : null,
      stale: this.#held,
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

  /** Sends a ping after everything written so far (the confirmation's marker). */
  readonly #ping = (payload: Buffer) => {
    if (this.conn.ws.readyState === WebSocket.OPEN) this.conn.ws.ping(payload);
  };

  readonly #onPong = (payload: Buffer) => {
    const now = this.#stream.clock();
    if (!this.#confirm?.pong(payload, now) || !this.#held) return;
    // Write-when-drained: it has read everything it was sent; now only the newest item.
    this.#held = false;
    this.pump(now);
  };

  /** Past the history it asked for: from now on its unconfirmed data is held to the bound. */
  #goLive(now: number): void {
    this.#live = true;
    this.#confirm?.rebase(now);
  }

  /** Its oldest unconfirmed live data passed the staleness bound: closed (`all`) or held (`latest`). */
  #stale(now: number): void {
    const confirm = this.#confirm!;
    if (this.#stream.delivery === 'all') {
      return this.#tooSlow(`its oldest unconfirmed data is ${Math.round(confirm.unconfirmedMs(now))} ms old, over the ${confirm.staleAfterMs} ms staleness bound`);
    }
    this.#held = true;
  }

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
