/**
 * Flow control for stream subscribers: what lets the slow-subscriber policy see a
 * subscriber's whole queue, including the bytes already in the kernel's socket buffers
 * (several MB on loopback), which Node's `writableLength` never counts.
 *
 * Two modes, one per subscriber:
 * - **Credit** (`sketchnet.v2`/`v3` clients that ask for it, like JetStream's
 *   `max_ack_pending` or reactive streams' `request(n)`): the client grants N items
 *   (`?credit=N` when subscribing, then `{"credit":N}` frames as it consumes) and the sketch
 *   sends at most the items granted. Its backlog stays in the stream's history, where the
 *   policy sees it; at most the granted items are ever in flight.
 * - **Confirmation** (everyone else: plain clients, browsers, v2 clients that never grant):
 *   after data is written, a WebSocket ping (RFC 6455 §5.5.2) follows it; the client's pong
 *   (§5.5.3), which ws, browsers and python-websockets send by themselves once they have read
 *   up to the ping, confirms that every byte before it was consumed. At most one ping is
 *   outstanding per subscriber and at most one is sent per {@link pingIntervalMs}, and only
 *   once {@link PING_MIN_BYTES} were written since the last, so a subscriber costs at most a
 *   ping every quarter of the staleness bound, not one per item (and a slow stream far fewer). A
 *   subscriber whose oldest unconfirmed data is older than the staleness bound is *stale*.
 *   With pings at most every quarter of the bound, a subscriber that keeps up shows at most
 *   a quarter of the bound plus its latency; one that stopped reading is found at the first
 *   write after the bound passed.
 *
 * No sockets and no timers here: the ping is sent through a function given to it and the
 * clock is passed in, so it is tested without a network (test/flow.ts).
 */
import { MAX_CREDIT } from '../net/protocol.js';

/**
 * Default staleness bound (`StreamSpec.staleAfterMs`), in ms: 750. A stalled subscriber is seen
 * when the next item is handed to it after the bound, and pings go out a quarter of the bound
 * apart: 750 ms keeps "stall → closed or conflated" under one second at full rate.
 */
export const DEFAULT_STALE_AFTER_MS = 750;
/** Smallest `StreamSpec.staleAfterMs`, in ms: 100. */
export const MIN_STALE_AFTER_MS = 100;
/** Largest `StreamSpec.staleAfterMs`, in ms: 60 000. */
export const MAX_STALE_AFTER_MS = 60_000;
/** Default most credit a subscriber may hold (`StreamSpec.maxCredit`), in items: 1000 (JetStream's `max_ack_pending` default). */
export const DEFAULT_MAX_CREDIT = 1000;
export { MAX_CREDIT };

/**
 * Bytes written since the last ping before another ping is due, for streams: 4096. A queue
 * smaller than this is drained in moments whenever its reader reads again, so it is not worth a
 * ping: a 10 Hz stream of 43-byte readings costs a ping every ~10 s per subscriber instead of
 * one every few items, while a stream fast enough to fill kernel buffers is pinged every
 * quarter of the bound. A reader stalled on a stream slower than this per bound is found by the
 * heartbeat (`heartbeatMs`), not by the staleness bound.
 */
export const PING_MIN_BYTES = 4096;

/** How often pings may go to one subscriber, for a staleness bound `staleAfterMs` (a quarter of it), in ms. */
export const pingIntervalMs = (staleAfterMs: number): number => staleAfterMs / 4;

/**
 * A subscriber's {@link Confirmation} phase for a byte threshold `minBytes`, from its connection
 * number `id`: ids in a row land far apart (multiples of the golden ratio, modulo 1, are spread
 * evenly), so the pings of subscribers that connected together go out on different items.
 * Deterministic: a subscriber's pings do not depend on chance.
 */
export function pingPhase(id: number, minBytes: number): number {
  return Math.floor((((id * 0.6180339887498949) % 1) + 1) % 1 * minBytes);
}

/** The first bytes of every ping payload the confirmation sends (`sn` + a 32-bit counter), so that other pings' pongs (the heartbeat's) are told apart. */
const PING_TAG = 0x736e; // "sn"

/**
 * One subscriber's confirmations (see the module comment). Times are ms on a monotonic
 * clock the caller passes in. No timer: pings go out as data is written (at most one
 * outstanding, at most one per interval) and staleness is judged when there is something new
 * to write, which is the only moment it matters.
 */
export class Confirmation {
  readonly staleAfterMs: number;
  readonly #ping: (payload: Buffer) => void;
  readonly #interval: number;
  /** Counter of the outstanding ping (0: none). */
  #outstanding = 0;
  #count = 0;
  #lastPingAt = -Infinity;
  /** When the oldest data the outstanding ping covers was written (undefined: no ping outstanding). */
  #covered?: number;
  /** When the oldest data written since the last ping was written (not covered by a ping yet). */
  #unpinged?: number;
  /** Bytes written since the last ping. */
  #unpingedBytes = 0;
  readonly #minBytes: number;

  /**
   * @param staleAfterMs the staleness bound, ms.
   * @param ping sends one ping frame with `payload` after everything written so far.
   * @param minBytes bytes written since the last ping before another is due (streams use
   *   {@link PING_MIN_BYTES}). Default 0: every write may be followed by one.
   * @param phase bytes counted as already written towards the first ping, from 0 to `minBytes`
   *   (streams: {@link pingPhase}). Subscribers of one stream are written the same bytes at the
   *   same moments, so without a phase of their own they would all be due at the same item, and a
   *   thousand of them would be pinged (and answer) in one `publish()`; a phase spreads those pings
   *   over the items. It only ever makes the first ping earlier. Default 0.
   */
  constructor(staleAfterMs: number, ping: (payload: Buffer) => void, minBytes = 0, phase = 0) {
    this.staleAfterMs = staleAfterMs;
    this.#interval = pingIntervalMs(staleAfterMs);
    this.#ping = ping;
    this.#minBytes = minBytes;
    this.#unpingedBytes = Math.min(Math.max(0, phase), minBytes);
  }

  /**
   * `bytes` were written at `now`: a ping follows them when none is outstanding, the last one
   * went at least an interval ago and at least `minBytes` were written since; otherwise the data
   * waits for a later write's ping or the pong.
   */
  wrote(now: number, bytes = 0): void {
    this.#unpinged ??= now;
    this.#unpingedBytes += bytes;
    if (this.due(now)) this.#sendPing(now);
  }

  /**
   * Whether writing `bytes` more at `now` would be followed by a ping (so the caller can cork the
   * socket and send both in one system call).
   */
  due(now: number, bytes = 0): boolean {
    return this.#outstanding === 0 && now - this.#lastPingAt >= this.#interval && this.#unpingedBytes + bytes >= this.#minBytes;
  }

  /**
   * A pong arrived with `payload`. Returns true when it answered the outstanding ping (all the
   * data it covered was consumed); other pongs (the heartbeat's) change nothing.
   */
  pong(payload: Buffer, now: number): boolean {
    if (this.#outstanding === 0 || payload.length !== 6 || payload.readUInt16BE(0) !== PING_TAG || payload.readUInt32BE(2) !== this.#outstanding) {
      return false;
    }
    this.#outstanding = 0;
    this.#covered = undefined;
    // What was written while this ping was out waited for it: timed from when it was written.
    if (this.#unpinged !== undefined && this.due(now)) this.#sendPing(now, this.#unpinged);
    return true;
  }

  /** Age of the oldest data awaiting the outstanding ping's pong, in ms; 0 when no ping is outstanding. */
  unconfirmedMs(now: number): number {
    return this.#covered === undefined ? 0 : Math.max(0, now - this.#covered);
  }

  /** Whether the oldest data the outstanding ping covers is older than the staleness bound. */
  stale(now: number): boolean {
    return this.#covered !== undefined && now - this.#covered > this.staleAfterMs;
  }

  /**
   * Counts everything written so far as written at `now` (the subscriber just finished the
   * history it asked for: only what it is sent live is held to the bound).
   */
  rebase(now: number): void {
    if (this.#covered !== undefined) this.#covered = now;
    if (this.#unpinged !== undefined) this.#unpinged = now;
  }

  /** `from`: when the oldest data it covers counts as written (default: see below). */
  #sendPing(now: number, from?: number): void {
    this.#count = (this.#count + 1) >>> 0 || 1;
    const payload = Buffer.allocUnsafe(6);
    payload.writeUInt16BE(PING_TAG, 0);
    payload.writeUInt32BE(this.#count, 2);
    this.#outstanding = this.#count;
    // Data left unpinged over a pause in publishing is timed from one interval before this
    // ping: it had no ping to answer until now.
    this.#covered = from ?? Math.max(this.#unpinged ?? now, now - this.#interval);
    this.#unpinged = undefined;
    this.#unpingedBytes = 0;
    this.#lastPingAt = now;
    this.#ping(payload);
  }
}

/**
 * One subscriber's credit: how many more items it may be sent. Grants add up, capped at
 * `maxCredit` (what a grant would add past it is not kept).
 */
export class Credit {
  readonly maxCredit: number;
  #left: number;

  /** @param initial items granted when subscribing (clamped to `maxCredit`). */
  constructor(initial: number, maxCredit: number) {
    this.maxCredit = maxCredit;
    this.#left = Math.min(initial, maxCredit);
  }

  /** Items it may still be sent. */
  get left(): number {
    return this.#left;
  }

  /** Adds `n` items (clamped to `maxCredit` in all); returns the credit now held. */
  grant(n: number): number {
    this.#left = Math.min(this.maxCredit, this.#left + n);
    return this.#left;
  }

  /** One item was sent. */
  take(): void {
    this.#left--;
  }
}
