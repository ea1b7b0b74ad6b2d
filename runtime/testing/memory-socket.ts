/**
 * In-memory WebSockets: the two ends of one connection, each behaving — for what sketchnet's
 * runtime uses of a ws `WebSocket` — as ws does: `send` (text or binary), `ping`/`pong` (a ping
 * is answered with a pong carrying its payload, as ws answers by itself), `pause`/`resume`
 * (nothing is delivered while paused, then everything in order), `close(code, reason)` (both
 * ends emit `close` with that code, 1005 without one, as after a closing handshake) and
 * `terminate()` (both ends emit `close` 1006). What one end sends arrives at the other as a
 * `message` event (a Buffer and `isBinary`) in a later microtask, in order: a chain of messages
 * between sketches completes within one turn of the event loop, so a fake clock's
 * `tickAsync` sees every timer such a chain sets before it moves on.
 *
 * {@link MemoryWire} stands in for the server end's TCP socket (`req.socket`), to which the
 * runtime writes pre-built frames (stream items: runtime/net/frame.ts): it decodes them back into
 * messages.
 */
import { EventEmitter } from 'node:events';

/** Runs an event handler: the test kit runs it in the receiving sketch's pin scope. */
export type Runner = <T>(fn: () => T) => T;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const EMPTY = Buffer.alloc(0);

/** One end of an in-memory WebSocket connection (see the module comment). */
export class MemorySocket extends EventEmitter {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;
  /** 0 connecting, 1 open, 2 closing, 3 closed: ws' values. */
  readyState: number = CONNECTING;
  /** The subprotocol agreed on (`''`: none, plain text). */
  protocol = '';
  readonly binaryType = 'nodebuffer';
  /** Never anything buffered: what is sent is handed over at once. */
  readonly bufferedAmount = 0;
  /** Whether `pause()` holds what arrives. */
  isPaused = false;
  #other?: MemorySocket;
  readonly #run: Runner;
  /** What arrived while paused (or behind something that did), in order. */
  readonly #held: Array<() => void> = [];
  /** Whether `close` was emitted. */
  #ended = false;

  /** @param run runs each event handler of this end (default: as it is). */
  constructor(run: Runner = (fn) => fn()) {
    super();
    this.#run = run;
  }

  /** Connects two ends: both open, speaking `protocol`. */
  static join(a: MemorySocket, b: MemorySocket, protocol: string): void {
    a.#other = b;
    b.#other = a;
    a.protocol = b.protocol = protocol;
    a.readyState = b.readyState = OPEN;
  }

  /** Emits `event` in this end's runner. */
  emitIn(event: string, ...args: unknown[]): void {
    this.#run(() => this.emit(event, ...args));
  }

  /**
   * Sends one message: a string as a text frame, a Buffer as binary unless `{ binary: false }`.
   * @throws Error while connecting, as ws does; once closing or closed, `cb` gets the error instead.
   */
  send(data: string | Buffer, options?: { binary?: boolean } | ((err?: Error) => void), cb?: (err?: Error) => void): void {
    if (typeof options === 'function') [cb, options] = [options, undefined];
    if (this.readyState === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (this.readyState !== OPEN) {
      const err = new Error(`WebSocket is not open: readyState ${this.readyState} (${this.readyState === CLOSING ? 'CLOSING' : 'CLOSED'})`);
      if (cb) queueMicrotask(() => cb(err));
      return;
    }
    const isBinary = typeof data === 'string' ? false : (options?.binary ?? true);
    const payload = Buffer.from(data); // a copy: the sender may reuse its buffer
    this.#deliver((to) => to.emit('message', payload, isBinary));
    if (cb) queueMicrotask(() => cb());
  }

  /** Sends a ping; the other end answers with a pong carrying `data`. */
  ping(data?: Buffer | string): void {
    if (this.readyState === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (this.readyState !== OPEN) return;
    const payload = data === undefined ? EMPTY : Buffer.from(data);
    this.#deliver((to) => {
      to.emit('ping', payload);
      to.pong(payload);
    });
  }

  /** Sends a pong (ws sends one by itself for every ping). */
  pong(data?: Buffer | string): void {
    if (this.readyState !== OPEN) return;
    const payload = data === undefined ? EMPTY : Buffer.from(data);
    this.#deliver((to) => to.emit('pong', payload));
  }

  /** Stops delivering what arrives until `resume()`. */
  pause(): void {
    this.isPaused = true;
  }

  /** Delivers what arrived while paused, in order, then goes on delivering. */
  resume(): void {
    this.isPaused = false;
    queueMicrotask(() => this.#flush());
  }

  /**
   * Closes the connection as a closing handshake does: the other end emits `close` with `code`
   * (1005 without one) and `reason`, then this one. A second call changes nothing.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING || !this.#other) {
      this.readyState = CLOSED;
      queueMicrotask(() => this.#end(1006, EMPTY));
      return;
    }
    this.readyState = CLOSING;
    const c = code ?? 1005;
    const r = reason === undefined ? EMPTY : Buffer.from(reason);
    this.#deliver((to) => {
      to.#end(c, r);
      queueMicrotask(() => this.#end(c, r));
    }, true);
  }

  /** Drops the connection at once: both ends emit `close` 1006. */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    const other = this.#other;
    queueMicrotask(() => {
      this.#end(1006, EMPTY);
      if (other) other.#end(1006, EMPTY);
    });
  }

  /**
   * Hands `event` to the other end in a later microtask, behind what it holds. An end already
   * closed gets nothing (what was in flight is lost, as on a dropped link) but a `closing` event.
   */
  #deliver(event: (to: MemorySocket) => void, closing = false): void {
    const to = this.#other;
    if (!to) return;
    queueMicrotask(() => {
      if (to.readyState === CLOSED) {
        if (closing) event(to);
        return;
      }
      if (to.isPaused || to.#held.length) to.#held.push(() => event(to));
      else to.#run(() => event(to));
    });
  }

  #flush(): void {
    while (!this.isPaused && this.#held.length && this.readyState !== CLOSED) {
      const next = this.#held.shift()!;
      this.#run(next);
    }
  }

  #end(code: number, reason: Buffer): void {
    if (this.#ended) return;
    this.#ended = true;
    this.readyState = CLOSED;
    this.#held.length = 0;
    this.emitIn('close', code, reason);
  }
}

/**
 * The server end's stand-in TCP socket (`req.socket`): the runtime writes pre-built, unmasked
 * frames to it (stream items, their envelopes) and reads `writableLength` (always 0: nothing
 * waits) and the remote address (`memory`, and a number per connection).
 */
export class MemoryWire extends EventEmitter {
  readonly remoteAddress = 'memory';
  readonly remotePort: number;
  readonly writableLength = 0;
  readonly #ws: MemorySocket;

  constructor(ws: MemorySocket, remotePort: number) {
    super();
    this.#ws = ws;
    this.remotePort = remotePort;
  }

  cork(): void {}
  uncork(): void {}

  /** Takes whole frames (RFC 6455 §5.2, unmasked) and sends each as the WebSocket would. */
  write(chunk: Buffer | string, cb?: (err?: Error) => void): boolean {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let at = 0; at < buf.length; ) {
      const opcode = buf[at]! & 0x0f;
      let length = buf[at + 1]! & 0x7f;
      let start = at + 2;
      if (length === 126) {
        length = buf.readUInt16BE(start);
        start += 2;
      } else if (length === 127) {
        length = Number(buf.readBigUInt64BE(start));
        start += 8;
      }
      const payload = buf.subarray(start, start + length);
      at = start + length;
      if (opcode === 0x1) this.#ws.send(payload, { binary: false });
      else if (opcode === 0x2) this.#ws.send(payload, { binary: true });
      else if (opcode === 0x9) this.#ws.ping(payload);
      else if (opcode === 0xa) this.#ws.pong(payload);
      else if (opcode === 0x8) this.#ws.close(payload.length >= 2 ? payload.readUInt16BE(0) : undefined, payload.subarray(2));
    }
    if (cb) queueMicrotask(() => cb());
    return true;
  }

  /** Drops the connection (1006 on both ends). */
  destroy(): this {
    this.#ws.terminate();
    return this;
  }
}
