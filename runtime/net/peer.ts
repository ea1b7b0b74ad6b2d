import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { TurnBatch } from './batch.js';
import { errors, oneLine, SketchError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { ackText, decodeReply, jsonString, SUBPROTOCOL_V3, SUBPROTOCOLS, usesEnvelopes, type Reply } from './protocol.js';
import type { Discovery } from '../discovery/mdns.js';
import { clientTlsOptions, verifyError } from '../security/tls.js';
import { keyHeaders } from '../security/transport.js';
import { Heartbeat, HEARTBEAT_MS } from './heartbeat.js';
import { FROM_HEADER } from './links.js';
import { maskedTextFrame } from './frame.js';

/** Options of {@link Peer}. */
/** A Peer's default `ackTimeout`, in ms: the longest wait for the next acknowledgement. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;

export interface PeerOptions {
  /** Resolves instance names; required for names, unused for `ws://` URLs. */
  discovery?: Discovery | false;
  /** How long to look for a peer by name, in ms. Default 5000. */
  discoverTimeout?: number;
  /** Connection attempts after the first fails or the connection drops. Default 4. */
  retries?: number;
  /** Delay before the first retry, in ms; doubles on each further retry. Default 200. */
  backoff?: number;
  /** Opening-handshake timeout, in ms. Default 5000. */
  handshakeTimeout?: number;
  /**
   * Ask for the `sketchnet.v3` / `sketchnet.v2` subprotocols (exactly-once request ids, error
   * replies with codes). A server that speaks neither (the Python original) is retried once
   * without them. Default true.
   */
  subprotocol?: boolean;
  /**
   * Most messages written and not yet acknowledged; later ones wait unsent until acks come
   * back (they still queue: `send()` never refuses). Default 256, at most
   * `DEDUPE_WINDOW` (1024) so that a resent duplicate always finds its reply.
   */
  maxInFlight?: number;
  /**
   * Ping interval in ms (RFC 6455 §5.5.2); a connection whose peer missed a pong is dropped and
   * made again, so a silent link is found within two intervals. Default 5000; 0 turns it off.
   */
  heartbeat?: number;
  /**
   * Longest wait for the next acknowledgement while messages are in flight, in ms: past it the
   * connection is dropped and the messages sent again on a new one (`retries` times in a row at
   * most, then they fail with `SKETCH_ERR_PEER_UNREACHABLE`, whose `cause` is a
   * `SKETCH_ERR_ACK_TIMEOUT`). Default 10 000; 0 = wait forever.
   */
  ackTimeout?: number;
  /**
   * Called with one line whenever the connection is lost, retried or restored (`level` absent:
   * a warning), and with `announceLookup` once at level `'info'`.
   */
  log?: (line: string, level?: 'info') => void;
  /** Log `looking for "NAME" over mDNS…` once, when the first lookup of a name starts (`Sketch.stream()` does). Default false. */
  announceLookup?: boolean;
  /**
   * Access key to present (`Authorization: Bearer <key>`), for a peer started with keys.
   * Sent only over `wss://` (certificate verified) or to a loopback address, unless
   * `insecureKey`. Default none.
   */
  key?: string;
  /**
   * Allow sending `key` over plain `ws://` beyond loopback, where anyone who can watch the
   * network can read it (a trusted home LAN without TLS). One line is logged when it happens.
   * Default false.
   */
  insecureKey?: boolean;
  /**
   * CA certificate(s), PEM, that a `wss://` peer's certificate must chain to (`--ca`), instead of
   * the system CAs. Giving one also requires TLS: a peer that does not serve it is refused with
   * `SKETCH_ERR_TLS_VERIFY` before anything is sent. Default: the system CAs, TLS optional.
   */
  ca?: string | Buffer;
  /** This sketch's instance name, stated on every connection (header `sketchnet-from`) so that the peer's status names its incoming link. Default none. */
  from?: () => string;
  /**
   * Makes the WebSocket of each connection attempt instead of `new WebSocket(url, protocols,
   * options)` (ws): the test kit (`sketchnet/testing`) connects sketches in memory through it. What
   * it returns must behave as a ws client: emit `upgrade` (a response whose `socket` is corked and
   * uncorked), `open`, `error`, `message`, `pong` and `close`; take `send`, `ping`, `close` and
   * `terminate`; tell `protocol` and `readyState`. Default: ws.
   */
  createSocket?: (url: string, protocols: string[], options: WebSocket.ClientOptions) => WebSocket;
}

interface Pending {
  /** v3 request number within this peer's session. */
  seq: number;
  text: string;
  /** The W3C `traceparent` sent with it (v3 only). */
  trace: string | undefined;
  resolve: (ack: string) => void;
  reject: (err: Error) => void;
}

const NO_SUBPROTOCOL = 'Server sent no subprotocol';

/**
 * One client connection to another sketch (or any WebSocket server that acknowledges each
 * text frame with one text frame), used by `Sketch.stream()`.
 *
 * - `send()` may be called many times without waiting: frames go out at once and
 *   acknowledgements are matched to messages in order (pipelining). Over `sketchnet.v2` stream
 *   items and gaps on the same path are told apart from replies; a plain server cannot mark
 *   them, so against one, never send requests on a path that is also a stream.
 * - When the connection drops, every message not yet acknowledged is sent again on the new
 *   connection. Over `sketchnet.v3` (a sketchnet sketch of protocol 3) each carries this Peer's
 *   session and a seq, and the sketch applies a resent one only once: exactly-once, in order,
 *   each promise resolved with its own acknowledgement (while the sketch keeps running). Over v2
 *   or plain text (older sketches, the Python original) it is at-least-once: a peer may see a
 *   message twice.
 * - At most `maxInFlight` (256) messages are written and unacknowledged; the rest wait unsent.
 * - A name is resolved over mDNS on every (re)connect, so a peer restarted on another port
 *   is found again.
 */
export class Peer {
  /** The peer as given: an instance name or a `ws://` / `wss://` URL. */
  readonly target: string;
  /** How many messages were sent (or queued) and are not acknowledged yet. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /** The v3 session: random, one per Peer. */
  readonly #session = randomBytes(16).toString('base64url');
  /** The start of every v3 request of this session (what `encodeRequest` writes). */
  readonly #requestPrefix = `{"session":${JSON.stringify(this.#session)},"seq":`;
  #seq = 0;
  #v3 = false;
  readonly #options: Required<Omit<PeerOptions, 'discovery' | 'key' | 'ca' | 'from' | 'createSocket'>> & {
    discovery: Discovery | false;
    key?: string;
    ca?: string | Buffer;
    from?: () => string;
    createSocket?: PeerOptions['createSocket'];
  };
  /** Whether the connection is being made again after a failure or a drop (a link's `retrying`). */
  #retrying = false;
  #warnedInsecure = false;
  /** Whether the first lookup by name started (it is announced once). */
  #lookedFor = false;
  #heartbeat?: Heartbeat;
  #ackTimer?: NodeJS.Timeout;
  /** When the last acknowledgement came, or the first message in flight went out (ms). */
  #progressAt = 0;
  /** Connections dropped in a row for want of an acknowledgement. */
  #stalls = 0;
  #ws?: WebSocket;
  #open = false;
  #connecting?: Promise<void>;
  #pending: Pending[] = [];
  /** Index in #pending of the first message not yet written to the current socket. */
  #sent = 0;
  #plain = false;
  #closed = false;
  readonly #abort = new AbortController();
  #batch?: TurnBatch;
  /** The connection's TCP (or TLS) socket when it is a real one: frames are written to it whole, one `write` each (see ./frame.ts). */
  #socket?: Socket;
  #url = '';

  constructor(target: string, options: PeerOptions = {}) {
    this.target = target;
    this.#options = {
      discovery: false,
      discoverTimeout: 5000,
      retries: 4,
      backoff: 200,
      handshakeTimeout: 5000,
      subprotocol: true,
      log: () => {},
      announceLookup: false,
      insecureKey: false,
      maxInFlight: 256,
      heartbeat: HEARTBEAT_MS,
      ackTimeout: DEFAULT_ACK_TIMEOUT_MS,
      ...options,
    };
    this.#plain = !this.#options.subprotocol;
    this.#via = /^wss?:\/\//i.test(target) ? 'url' : 'mdns';
  }

  /** How this peer is reached: a `ws://` URL given, or a name found over mDNS. */
  get via(): 'mdns' | 'url' {
    return this.#via;
  }
  readonly #via: 'mdns' | 'url';

  /** `connected` while open, `retrying` while reconnecting after a failure, else `idle` (connected on the next send). */
  get state(): 'connected' | 'retrying' | 'idle' {
    return this.#open ? 'connected' : this.#retrying ? 'retrying' : 'idle';
  }

  /** The URL of the current (or last) connection; `''` before the first. */
  get url(): string {
    return this.#url;
  }

  /**
   * Sends one text message; resolves with the peer's acknowledgement.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND`, `SKETCH_ERR_PEER_UNREACHABLE` (after the
   *   retries), `SKETCH_ERR_REMOTE` (the peer replied with an error, `sketchnet.v2` only),
   *   `SKETCH_ERR_CLOSED` (this peer was closed first).
   */
  send(text: string, traceparent?: string): Promise<string> {
    if (this.#closed) return Promise.reject(errors.CLOSED(`connection to ${this.target}`));
    return new Promise<string>((resolve, reject) => {
      this.#pending.push({ seq: ++this.#seq, text, trace: traceparent, resolve, reject });
      if (this.#open) this.#flush();
      else this.#connect();
    });
  }

  #flush(): void {
    const ws = this.#ws;
    if (!ws || !this.#open) return;
    const limit = Math.min(this.#pending.length, this.#options.maxInFlight);
    if (this.#sent >= limit) return;
    // Others already in flight, or several to send: batch this turn's frames into one writev.
    if (this.#sent > 0 || limit - this.#sent > 1) this.#batch?.hold();
    // v3: every reply below the first unacknowledged message is held here (done).
    const done = (this.#pending[0]?.seq ?? this.#seq + 1) - 1;
    if (this.#sent === 0) this.#progressAt = Date.now();
    const socket = ws.readyState === WebSocket.OPEN ? this.#socket : undefined; // closing: ws drops what is sent
    while (this.#sent < limit) {
      const p = this.#pending[this.#sent++]!;
      const text = !this.#v3
        ? p.text
        : p.trace === undefined
          ? `${this.#requestPrefix}${p.seq},"done":${done},"msg":${jsonString(p.text)}}`
          : `${this.#requestPrefix}${p.seq},"done":${done},"msg":${jsonString(p.text)},"traceparent":"${p.trace}"}`;
      if (socket) socket.write(maskedTextFrame(text));
      else ws.send(text);
    }
  }

  #connect(): void {
    if (this.#connecting) return;
    this.#connecting = this.#connectWithRetries(this.#url !== '')
      .then(() => {
        this.#connecting = undefined;
        this.#retrying = false;
        this.#flush();
      })
      .catch((err: Error) => {
        this.#connecting = undefined;
        this.#retrying = false;
        this.#failAll(err);
      });
  }

  /** `reconnect`: the peer was reached before, so a name that no longer answers is retried too. */
  async #connectWithRetries(reconnect: boolean): Promise<void> {
    let delay = this.#options.backoff;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#open1(reconnect || attempt > 0);
        if (attempt > 0) this.#options.log(`reconnected to ${this.target} (${this.#url})`);
        return;
      } catch (err) {
        if (this.#closed) throw errors.CLOSED(`connection to ${this.target}`);
        const notFound = err instanceof SketchError && err.code === 'SKETCH_ERR_PEER_NOT_FOUND';
        if (notFound && !reconnect) throw err; // never found at all: nothing to retry
        if (err instanceof SketchError && !notFound) throw err;
        if (attempt >= this.#options.retries) {
          const why = notFound ? 'it no longer answers over mDNS' : oneLine(err);
          throw errors.PEER_UNREACHABLE(this.target, `${why} (gave up after ${attempt + 1} attempts)`, err);
        }
        this.#retrying = true;
        this.#options.log(`cannot reach ${this.target}: ${oneLine(err)}; retrying in ${delay} ms`);
        await sleep(delay, undefined, { signal: this.#abort.signal }).catch(() => {}); // close() ends the wait
        if (this.#closed) throw errors.CLOSED(`connection to ${this.target}`);
        delay *= 2;
      }
    }
  }

  /**
   * The URL to connect to and, for a peer found by name, the instance name its certificate must
   * carry. On retries a name is looked up for at most 1 s: a vanished peer should fail fast.
   */
  async #resolveUrl(retry: boolean): Promise<{ url: string; name?: string }> {
    if (/^wss?:\/\//i.test(this.target)) return { url: this.target };
    const d = this.#options.discovery;
    if (!d) throw errors.MDNS_DISABLED(this.target);
    const timeout = retry ? Math.min(this.#options.discoverTimeout, 1000) : this.#options.discoverTimeout;
    if (!this.#lookedFor && this.#options.announceLookup) this.#options.log(`looking for "${this.target}" over mDNS…`, 'info');
    this.#lookedFor = true;
    const found = await d.resolve(this.target, timeout, this.#abort.signal); // close() ends the lookup
    return { url: found.url, name: found.name };
  }

  /** One connection attempt; resolves when open. A server without `sketchnet.v2` is retried in plain text once. */
  async #open1(retry: boolean): Promise<void> {
    const { url, name } = await this.#resolveUrl(retry);
    if (this.#closed) throw errors.CLOSED(`connection to ${this.target}`);
    // Passed through by ws to tls.connect(), whose checkServerIdentity returns an Error to refuse
    // (@types/ws types it differently: hence the cast).
    const tlsOptions = clientTlsOptions(url, this.target, this.#options.ca, name) as WebSocket.ClientOptions;
    const headers = this.#keyHeaders(url);
    const from = this.#options.from?.();
    if (from) headers[FROM_HEADER] = encodeURIComponent(from); // header values are Latin-1: a Unicode name percent-encoded
    this.#url = url;
    let opened: { ws: WebSocket; socket: Duplex };
    try {
      opened = await this.#handshake(url, headers, tlsOptions);
    } catch (err) {
      if (this.#plain || (err as Error).message !== NO_SUBPROTOCOL) throw err;
      this.#plain = true; // a plain server (the Python original): speak plain text from now on
      opened = await this.#handshake(url, headers, tlsOptions);
    }
    this.#attach(opened.ws, opened.socket);
  }

  /** The key's header for `url`: only over verified TLS or loopback, unless `insecureKey` (one line, once). */
  #keyHeaders(url: string): Record<string, string> {
    return keyHeaders(url, this.#options, (line) => {
      if (!this.#warnedInsecure) this.#options.log(line);
      this.#warnedInsecure = true;
    });
  }

  /** Opens one WebSocket to `url`; resolves with it and its TCP socket once open. */
  #handshake(url: string, headers: Record<string, string>, tlsOptions: WebSocket.ClientOptions): Promise<{ ws: WebSocket; socket: Duplex }> {
    return new Promise((resolve, reject) => {
      const protocols = this.#plain ? [] : [...SUBPROTOCOLS];
      const options: WebSocket.ClientOptions = { handshakeTimeout: this.#options.handshakeTimeout, perMessageDeflate: false, headers, ...tlsOptions };
      const ws = this.#options.createSocket ? this.#options.createSocket(url, protocols, options) : new WebSocket(url, protocols, options);
      let socket: Duplex | undefined;
      ws.once('upgrade', (res) => (socket = res.socket));
      ws.once('open', () => {
        ws.removeAllListeners('error');
        ws.on('error', () => {}); // until attached: 'close' follows any error and decides
        resolve({ ws, socket: socket! });
      });
      ws.once('error', (err) => {
        ws.removeAllListeners('open');
        ws.on('error', () => {});
        ws.terminate();
        reject(refusal(this.target, err) ?? verifyError(this.target, url, err) ?? err);
      });
    });
  }

  #attach(ws: WebSocket, socket: Duplex): void {
    this.#watch(ws);
    this.#ws = ws;
    this.#open = true;
    this.#sent = 0;
    this.#batch = new TurnBatch(socket);
    this.#socket = socket instanceof Socket ? socket : undefined;
    const envelopes = usesEnvelopes(ws.protocol);
    this.#v3 = ws.protocol === SUBPROTOCOL_V3;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = data.toString();
      let reply: Reply = { ack: frame };
      if (envelopes) {
        try {
          reply = decodeReply(frame);
        } catch {
          // a server that accepted any subprotocol but answers in plain text: the frame is the ack
        }
        if (!('ack' in reply) && !('error' in reply)) return; // stream items, gaps: not replies
      }
      // v3 replies name their request; others come in order.
      const at = reply.seq === undefined || this.#pending[0]?.seq === reply.seq ? 0 : this.#pending.findIndex((q) => q.seq === reply.seq);
      if (at < 0 || at >= this.#sent) return; // a reply to nothing sent on this connection
      const p = at === 0 ? this.#pending.shift()! : this.#pending.splice(at, 1)[0]!;
      this.#sent--;
      this.#progressAt = Date.now();
      this.#stalls = 0;
      if ('ack' in reply) p.resolve(ackText(reply.ack));
      else if ('error' in reply) p.reject(errors.REMOTE(this.target, reply.error.code, reply.error.message));
      if (this.#pending.length > this.#sent) this.#flush(); // room in the window: send what waits
    });
    ws.on('error', () => {}); // 'close' follows and decides
    ws.on('close', (code, reason) => {
      if (this.#ws !== ws) return;
      this.#open = false;
      this.#ws = undefined;
      if (this.#closed) return;
      if (this.#pending.length === 0) return; // reconnect lazily on the next send
      const why = code === 1005 || code === 1006 ? `connection lost (${code})` : `closed ${code} ${reason.toString()}`.trim();
      this.#options.log(`${this.target}: ${why}; ${this.#pending.length} message(s) unacknowledged, reconnecting`);
      this.#retrying = true;
      this.#connect();
    });
  }

  /** Heartbeats and the acknowledgement timeout for a new connection. */
  #watch(ws: WebSocket): void {
    const { heartbeat, ackTimeout, log } = this.#options;
    this.#heartbeat ??= new Heartbeat(heartbeat, (dead) => {
      log(`${this.target}: no answer to pings within ${(2 * heartbeat) / 1000} s: the link is dead, reconnecting`);
      dead.terminate();
    });
    this.#heartbeat.watch(ws);
    if (ackTimeout > 0 && !this.#ackTimer) {
      this.#ackTimer = setInterval(() => {
        const current = this.#ws;
        if (!current || this.#sent === 0 || Date.now() - this.#progressAt <= ackTimeout) return;
        this.#progressAt = Date.now();
        if (++this.#stalls > this.#options.retries) {
          // The cause says what went wrong for a one-shot sender (`sketch send`, `retries: 0`).
          const cause = errors.ACK_TIMEOUT(this.target, ackTimeout / 1000);
          this.#failAll(errors.PEER_UNREACHABLE(this.target, `no acknowledgement within ${ackTimeout / 1000} s (gave up after ${this.#stalls} connections)`, cause));
          this.#stalls = 0;
        } else {
          log(`${this.target}: no acknowledgement within ${ackTimeout / 1000} s: reconnecting`);
        }
        current.terminate(); // 'close' reconnects and sends what is still unacknowledged
      }, Math.max(10, Math.min(1000, ackTimeout / 4)));
      this.#ackTimer.unref();
    }
  }

  #failAll(err: Error): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#sent = 0;
    for (const p of pending) p.reject(err);
  }

  /**
   * Closes the connection with 1000 (normal closure). Messages still waiting are rejected
   * with `SKETCH_ERR_CLOSED`. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#heartbeat?.stop();
    clearInterval(this.#ackTimer);
    this.#failAll(errors.CLOSED(`connection to ${this.target}`));
    const ws = this.#ws;
    this.#ws = undefined;
    this.#open = false;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000);
    });
  }
}

/** A handshake refused for lack of a key (401) or by the Origin check (403), as one clear error. */
function refusal(target: string, err: Error): SketchError | undefined {
  const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1];
  if (status === '401') return errors.UNAUTHORIZED(target);
  if (status === '403') return errors.FORBIDDEN(`${target} refused the connection (403): this origin is not allowed (--allow-origin on the peer)`);
  return undefined;
}
