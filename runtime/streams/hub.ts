import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import { errors, oneLine } from '../errors.js';
import { decodeCredit, encodeError, usesEnvelopes } from '../net/protocol.js';
import { printable } from '../text.js';
import { DEFAULT_DELIVER_POLICY, parseCredit, parseDeliverPolicy, streamParameter, type DeliverPolicy } from './query.js';
import { Stream, type PublishOptions, type StreamHost, type StreamSpec, type StreamStatus } from './stream.js';
import { StreamSpool, type StreamStore } from './stream-spool.js';
import type { Subscription } from './subscription.js';

/**
 * What a WebSocket upgrade asks for, once checked: the channel (path) and, on a stream, where
 * to start and the credit granted to begin with (`?credit=N`: credit-based flow control).
 */
export type UpgradeCheck = { ok: true; channel: string; policy?: DeliverPolicy; credit?: number } | { ok: false; error: string };

interface Connection {
  ws: WebSocket;
  socket: Duplex;
  id: number;
  remote: string;
  policy: DeliverPolicy;
  credit?: number;
  subscription?: Subscription;
}

/** Where a {@link StreamHub}'s streams keep their epoch, seq and history across restarts. */
export interface StreamHubOptions {
  /** The spool file (`--spool`): opened as a {@link StreamSpool}. Default none: kept in memory only. */
  spool?: string;
  /** A store instead of `spool` (tests: a fake, or a `StreamSpool` on `:memory:`); closed with the hub. */
  store?: StreamStore;
}

/**
 * Every stream of one sketch and every connection, by channel (request path). A connection
 * on a stream's path is its subscriber; a path becomes a stream when it is declared
 * (`static streams`) or first published to, and connections already on it subscribe then.
 */
export class StreamHub {
  readonly #host: StreamHost;
  readonly #store?: StreamStore;
  readonly #streams = new Map<string, Stream>();
  readonly #channels = new Map<string, Set<Connection>>();
  readonly #byWs = new Map<WebSocket, Connection>();
  #nextId = 1;

  /**
   * @param declared the sketch class's `static streams`, created at once.
   * @param options where every stream (declared or first published to) keeps its epoch, seq and history.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for a declaration out of bounds or a path not
   *   starting with `/`; `SKETCH_ERR_RECORD_DB` when `options.spool` cannot be opened.
   */
  constructor(declared: Record<string, StreamSpec>, host: StreamHost, options: StreamHubOptions = {}) {
    this.#host = host;
    this.#store = options.store ?? (options.spool === undefined ? undefined : new StreamSpool(options.spool));
    try {
      for (const [path, spec] of Object.entries(declared)) this.#create(path, spec);
    } catch (err) {
      this.#store?.close();
      throw err;
    }
  }

  /** The stream on `path`, if it is one. */
  get(path: string): Stream | undefined {
    return this.#streams.get(path);
  }

  /** Every stream's path, in the order they were made. */
  paths(): string[] {
    return [...this.#streams.keys()];
  }

  /**
   * Checks a WebSocket request's URL before the upgrade: a stream query parameter on a path
   * that is not a stream, or a bad stream query, is refused with one line saying why. The
   * channel is the URL's path, percent-decoded (`//x` is the path `//x`, never a host `x`).
   * Never throws; a refusal is one line, quoting at most 100 characters of the URL or path.
   */
  check(url: string): UpgradeCheck {
    let parsed: URL;
    let channel: string;
    try {
      // An origin-form request target ("/path?query") is a path even when it starts with "//".
      parsed = url.startsWith('/') ? new URL(`ws://sketch${url}`) : new URL(url, 'ws://sketch');
      channel = decodeURIComponent(parsed.pathname);
      if (!channel.startsWith('/')) throw new TypeError('not a path');
    } catch {
      return { ok: false, error: `not a valid request path: ${printable(url, 100)}` };
    }
    const stream = this.#streams.get(channel);
    if (!stream) {
      const p = streamParameter(parsed.searchParams);
      if (p === undefined) return { ok: true, channel };
      return { ok: false, error: `${printable(channel, 100)} is not a stream, so ?${p} does not apply; streams here: ${this.#list()}` };
    }
    const r = parseDeliverPolicy(parsed.searchParams, this.#host.now());
    if (!r.ok) return { ok: false, error: `${r.error} (stream ${channel}; streams here: ${this.#list()})` };
    const c = parseCredit(parsed.searchParams);
    if (!c.ok) return { ok: false, error: `${c.error} (stream ${channel}; streams here: ${this.#list()})` };
    return c.credit === undefined ? { ok: true, channel, policy: r.policy } : { ok: true, channel, policy: r.policy, credit: c.credit };
  }

  /**
   * Registers a connection on `channel`; on a stream it subscribes at once. `credit`: what
   * `check()` read from `?credit=N`; a plain connection (no subprotocol) cannot grant credit,
   * so one that asked for it is closed with 1008 and one line saying so.
   */
  add(ws: WebSocket, socket: Duplex, channel: string, policy: DeliverPolicy = DEFAULT_DELIVER_POLICY, credit?: number): void {
    const remote = `${(socket as { remoteAddress?: string }).remoteAddress ?? '?'}:${(socket as { remotePort?: number }).remotePort ?? '?'}`;
    const conn: Connection = { ws, socket, id: this.#nextId++, remote, policy, credit };
    let set = this.#channels.get(channel);
    if (!set) this.#channels.set(channel, (set = new Set()));
    set.add(conn);
    this.#byWs.set(ws, conn);
    if (credit !== undefined && !usesEnvelopes(ws.protocol)) {
      ws.close(1008, '?credit needs the sketchnet.v2 or v3 subprotocol (to grant more)');
      return;
    }
    const stream = this.#streams.get(channel);
    if (stream) conn.subscription = stream.subscribe(conn, policy, credit);
  }

  /**
   * A text frame from `ws`, before `loop` sees it: a `{"credit":N}` frame from a
   * `sketchnet.v2`/`v3` subscriber is a grant (a malformed one gets a `SKETCH_ERR_BAD_MESSAGE`
   * error reply) and is taken out. Cheap for everything else: one character is looked at.
   * @returns true when the frame was taken out (`loop` must not see it).
   */
  control(ws: WebSocket, text: string): boolean {
    const first = text.charCodeAt(0);
    if (first !== 0x7b /* { */ && !(first <= 0x20) /* white space */) return false;
    const subscription = this.#byWs.get(ws)?.subscription;
    if (!subscription || !subscription.v2) return false;
    let n: number | undefined;
    try {
      n = decodeCredit(text);
    } catch (err) {
      if (ws.readyState === ws.OPEN) ws.send(encodeError(ws.protocol, 'SKETCH_ERR_BAD_MESSAGE', oneLine(err)));
      return true;
    }
    if (n === undefined) return false;
    subscription.grant(n);
    return true;
  }

  /** Forgets a closed connection. */
  remove(ws: WebSocket, channel: string): void {
    const conn = this.#byWs.get(ws);
    if (!conn) return;
    this.#byWs.delete(ws);
    const set = this.#channels.get(channel);
    set?.delete(conn);
    if (set?.size === 0) this.#channels.delete(channel);
    if (conn.subscription) this.#streams.get(channel)?.unsubscribe(conn.subscription);
  }

  /** Connections on `channel`. */
  connections(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /** How many WebSocket connections there are, on every channel. */
  get size(): number {
    return this.#byWs.size;
  }

  /** Every open connection's WebSocket. */
  sockets(): IterableIterator<WebSocket> {
    return this.#byWs.keys();
  }

  /**
   * Publishes `data` on the stream at `path`, making it (with the defaults) when it does not
   * exist yet.
   * @returns how many subscribers the stream has.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `options.time` is given but is not a
   * finite number, or `path` does not start with `/`; nothing is published then.
   */
  publish(path: string, data: unknown, options?: PublishOptions): number {
    const time = options?.time;
    if (time !== undefined && (typeof time !== 'number' || !Number.isFinite(time))) {
      throw errors.INVALID_OPTION(`publish(${JSON.stringify(path)}): time must be a finite number of seconds since the epoch, got ${String(time)}`);
    }
    const stream = this.#streams.get(path) ?? this.#create(path, {});
    stream.publish(data, options);
    return stream.subscribers;
  }

  /** Connections per channel and every stream's status. */
  status(): { connections: Record<string, number>; streams: Record<string, StreamStatus> } {
    const connections: Record<string, number> = {};
    for (const [channel, set] of this.#channels) connections[channel] = set.size;
    const streams: Record<string, StreamStatus> = {};
    for (const [path, s] of this.#streams) streams[path] = s.status();
    return { connections, streams };
  }

  /** Closes the store (the spool marks its streams closed cleanly). Streams then keep nothing more. */
  close(): void {
    this.#store?.close();
  }

  #create(path: string, spec: StreamSpec): Stream {
    const stream = new Stream(path, spec, this.#host, this.#store);
    this.#streams.set(path, stream);
    for (const conn of this.#channels.get(path) ?? []) {
      if (conn.credit === undefined || usesEnvelopes(conn.ws.protocol)) conn.subscription = stream.subscribe(conn, conn.policy, conn.credit);
    }
    return stream;
  }

  #list(): string {
    return this.#streams.size ? this.paths().join(', ') : '(none)';
  }
}
