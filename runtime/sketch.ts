import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';
import { errors, oneLine } from './errors.js';
import { MdnsDiscovery, type Announcement, type Discovery } from './discovery/mdns.js';
import { resolveOptions, type OptionSchema } from './options.js';
import { Peer, type PeerOptions } from './net/peer.js';
import { encodePush, PROTOCOL_VERSION, SUBPROTOCOL } from './net/protocol.js';
import { isReactive, serveReactive, serveSilent } from './net/reactive.js';

/** How a sketch is built: `new MySketch(config)`. Every field is optional. */
export interface SketchConfig {
  /** DNS-SD instance name to announce. Default: the class's `kind`. */
  name?: string;
  /** Values for the class's option schema (`static options`); defaults fill the rest. */
  options?: Record<string, unknown>;
  /**
   * Discovery to announce with and resolve peers through. Default: a new
   * {@link MdnsDiscovery}, closed with the sketch. `false` turns mDNS off (`--no-mdns`):
   * nothing is announced and peers must be `ws://` URLs.
   */
  discovery?: Discovery | false;
  /**
   * The peer this sketch talks to (`--to`): an instance name or a `ws://` URL. Default: the
   * class's `defaultTo` (the clock's is `iopin`), else none.
   */
  to?: string;
  /** How long `stream()` looks for a peer by name, in ms. Default 5000. */
  discoverTimeout?: number;
  /** Largest message accepted, in bytes; a bigger one closes the connection with 1009. Default 1 MiB. */
  maxPayload?: number;
  /**
   * Bytes a subscriber may have waiting unsent before `publish()` closes it with 1013
   * (try again later) instead of buffering without bound. Default 1 MiB.
   */
  maxBuffered?: number;
  /** Retry and backoff settings for connections made by `stream()`. */
  peer?: Pick<PeerOptions, 'retries' | 'backoff' | 'handshakeTimeout' | 'subprotocol'>;
  /** Where `out()` lines go. Default: `console.log`. */
  log?: (line: string) => void;
}

/** Where to listen: `run({ host, port })`. */
export interface ListenOptions {
  /** Interface address to bind. Default `0.0.0.0` (all IPv4 interfaces). */
  host?: string;
  /** TCP port; 0 (the default) picks a free one, which mDNS then announces. */
  port?: number;
}

/** Where a running sketch can be reached. */
export interface SketchAddress {
  host: string;
  port: number;
  /** `ws://HOST:PORT/` (with 127.0.0.1 for a wildcard host). */
  url: string;
  /** The instance name announced (may differ from the one asked for after a conflict). */
  name: string;
}

/** The static side of a sketch class, as the CLI and loaders see it. */
export interface SketchClass {
  new (config?: SketchConfig): Sketch;
  /** Sketch kind, announced in the TXT record (`kind=`). Default: the class name in lower case. */
  kind?: string;
  /** One-line description for `sketch run --help`. */
  description?: string;
  /** The sketch's own options (become `--flags`). */
  options?: OptionSchema;
  /** Default for `SketchConfig.to` (`--to`). */
  defaultTo?: string;
  readonly name: string;
}

/**
 * The Arduino-like base class. Subclass it, declare `static options`, implement `setup()`
 * (runs once before serving) and `loop(channel, message)` (decorated with `@reactive` to
 * acknowledge each message), optionally `main()` for sketches that act on their own (the
 * clock), and `teardown()` to release hardware.
 *
 * Events: `connection` `(channel: string)`, `disconnect` `(channel: string, code: number)`,
 * `rename` `(newName: string, oldName: string)` when mDNS forced a new instance name.
 */
export class Sketch<O extends Record<string, unknown> = Record<string, unknown>> extends EventEmitter {
  /** Sketch kind, announced in the TXT record (`kind=`). Default: the class name in lower case. */
  static kind?: string;
  /** One-line description shown by `sketch run --help`. */
  static description?: string;
  /** The sketch's option schema; each entry becomes a `--flag`. Default: none. */
  static options?: OptionSchema;
  /** Default peer for `--to`. Default: none. */
  static defaultTo?: string;

  /** Resolved options (defaults spread first, then validated), available from `setup()` on. */
  readonly options: O;
  /** Current instance name (announced over mDNS unless disabled). */
  name: string;
  /** The sketch kind (TXT `kind=`). */
  readonly kind: string;
  /** The peer given with `to` (`--to`), or the class's `defaultTo`; undefined when neither. */
  readonly to: string | undefined;

  readonly #config: Required<Omit<SketchConfig, 'discovery' | 'name' | 'options' | 'peer' | 'to'>> & {
    peer: SketchConfig['peer'];
  };
  readonly #discovery: Discovery | false;
  readonly #ownsDiscovery: boolean;
  #server?: http.Server;
  #wss?: WebSocketServer;
  #announcement?: Announcement;
  #announced: Promise<string | undefined> = Promise.resolve(undefined);
  #address?: SketchAddress;
  /** Connected clients by channel, each with its TCP socket (for pre-framed `publish()` writes). */
  readonly #channels = new Map<string, Map<WebSocket, Duplex>>();
  readonly #peers = new Map<string, Peer>();
  #closing?: Promise<void>;
  readonly #abort = new AbortController();

  /**
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `config.options` does not fit the
   *   class's option schema.
   */
  constructor(config: SketchConfig = {}) {
    super();
    const cls = this.constructor as SketchClass;
    this.kind = cls.kind ?? cls.name.toLowerCase();
    this.name = config.name ?? this.kind;
    this.to = config.to ?? cls.defaultTo;
    this.options = resolveOptions(cls.options ?? {}, config.options) as O;
    this.#config = {
      discoverTimeout: 5000,
      maxPayload: 1024 * 1024,
      maxBuffered: 1024 * 1024,
      log: (line: string) => console.log(line),
      ...dropUndefined(config),
      peer: config.peer,
    };
    this.#ownsDiscovery = config.discovery === undefined;
    this.#discovery = config.discovery ?? new MdnsDiscovery({ log: (line) => this.out(line) });
  }

  /** Runs once before the server starts; may be async. Override it. */
  setup(_options: O): void | Promise<void> {}

  /**
   * Handles one message. `channel` is the WebSocket request path (e.g. `/datafeed`),
   * `message` the text received. Decorate it with `@reactive` to acknowledge each message
   * with what it returns. Override it.
   */
  loop(_channel: string, _message: string): unknown {
    return undefined;
  }

  /**
   * Optional: the sketch's own job, run by `sketch run` once the sketch is listening and
   * announced (the clock's ticking). When it resolves the CLI closes the sketch and exits 0;
   * when it rejects, it prints the error's one line and exits non-zero.
   */
  main?(): Promise<void>;

  /** Optional: release what `setup()` took (pins, files); called once by `close()`. */
  teardown?(): void | Promise<void>;

  /** Writes one log line prefixed with the sketch's label: `[ IOPin ] text`. */
  out(text: string): void {
    this.#config.log(`[ ${this.label} ] ${text}`);
  }

  /** The log prefix: the instance name when one was given, else the class name. */
  get label(): string {
    return this.name !== this.kind ? this.name : this.constructor.name;
  }

  /**
   * Aborted when `close()` starts: pass it to timers and loops in `main()` so they end with
   * the sketch (`setTimeout(ms, undefined, { signal })` from `node:timers/promises`).
   */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Where the sketch listens, once `run()` resolved. */
  get address(): SketchAddress | undefined {
    return this.#address;
  }

  /**
   * Runs `setup(options)`, starts the WebSocket server and starts announcing it over mDNS.
   * Resolves once listening; `announced` resolves once the announcement went out.
   * @throws SketchError `SKETCH_ERR_PORT_IN_USE`, `SKETCH_ERR_LISTEN`.
   */
  async run(listen: ListenOptions = {}): Promise<SketchAddress> {
    const { host, port } = { host: '0.0.0.0', port: 0, ...dropUndefined(listen) };
    await this.setup(this.options);
    const server = http.createServer((req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`sketch "${this.name}" (${this.kind}) speaks WebSocket: connect to ws://HOST:PORT${req.url ?? '/'}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? errors.PORT_IN_USE(host, port) : errors.LISTEN(host, port, err)),
      );
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.out(`server error: ${oneLine(err)}`));
    this.#server = server;
    const wss = new WebSocketServer({
      server,
      maxPayload: this.#config.maxPayload,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    wss.on('connection', (ws, req) => this.#accept(ws, req));
    wss.on('error', (err) => this.out(`server error: ${oneLine(err)}`));
    this.#wss = wss;
    const bound = (server.address() as AddressInfo).port;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    this.#address = { host, port: bound, url: `ws://${shown.includes(':') ? `[${shown}]` : shown}:${bound}/`, name: this.name };
    this.out(`serving on ${host}:${bound}${this.#discovery ? '' : ' (mDNS off)'}`);
    this.#announced = this.#announce(bound);
    return this.#address;
  }

  /**
   * Resolves with the instance name once the mDNS announcement went out (after `run()`
   * resolved: the sketch already serves while it announces), or `undefined` with mDNS off or
   * unavailable (then a line is logged and the sketch serves unannounced).
   */
  get announced(): Promise<string | undefined> {
    return this.#announced;
  }

  async #announce(port: number): Promise<string | undefined> {
    if (!this.#discovery) return undefined;
    const wanted = this.name;
    let a: Announcement;
    try {
      a = await this.#discovery.announce({ name: wanted, port, txt: { kind: this.kind, protocol: String(PROTOCOL_VERSION) } });
    } catch (err) {
      this.out(`mDNS unavailable (${oneLine(err)}): serving without announcing; peers need --to ws://HOST:${port}`);
      return undefined;
    }
    this.#announcement = a;
    if (this.#closing) return a.name; // close() withdraws it
    if (a.name !== wanted) this.out(`name "${wanted}" is taken on the network: announced as "${a.name}"`);
    this.#rename(a.name);
    a.on('rename', (next: string, old: string) => {
      this.out(`name "${old}" conflicts with another sketch: now announced as "${next}"`);
      this.#rename(next);
      this.emit('rename', next, old);
    });
    this.out(`announced as "${a.name}" (mDNS _sketch._tcp)`);
    return a.name;
  }

  #rename(name: string): void {
    this.name = name;
    if (this.#address) this.#address.name = name;
  }

  #accept(ws: WebSocket, req: http.IncomingMessage): void {
    const channel = channelOf(req.url);
    let set = this.#channels.get(channel);
    if (!set) this.#channels.set(channel, (set = new Map()));
    set.set(ws, req.socket);
    this.out(`** new client connected, path=${channel}`);
    this.emit('connection', channel);
    ws.on('error', () => {}); // 'close' follows with the code and is logged there
    ws.on('close', (code, reason) => {
      set!.delete(ws);
      if (set!.size === 0 && this.#channels.get(channel) === set) this.#channels.delete(channel);
      const why = reason.length ? ` ${reason.toString()}` : '';
      if (code === 1000 || code === 1001 || code === 1005) this.out(`client on ${channel} left (${code}${why})`);
      else this.out(`client on ${channel} closed abnormally (${code}${why})`);
      this.emit('disconnect', channel, code);
    });
    if (isReactive(this.loop)) serveReactive(this, ws, channel, req.socket);
    else serveSilent(this, ws, channel);
  }

  /** How many clients are connected on `channel` (e.g. `/readings`). */
  subscribers(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /**
   * Sends `data` as one text frame to every client connected on `channel` (its
   * subscribers). Non-strings are JSON-encoded. A subscriber with more than `maxBuffered`
   * bytes waiting is too slow: it is closed with 1013 and logged, never silently skipped.
   * @returns how many subscribers it was sent to.
   */
  publish(channel: string, data: unknown): number {
    const set = this.#channels.get(channel);
    if (!set || set.size === 0) return 0;
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    // Framed once, written as one buffer per subscriber (the frame is the same for all).
    let plain: Buffer | undefined;
    let v1: Buffer | undefined;
    let sent = 0;
    for (const [ws, socket] of set) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > this.#config.maxBuffered) {
        this.out(`subscriber on ${channel} is too slow (${ws.bufferedAmount} bytes waiting): closing it with 1013`);
        ws.close(1013, 'subscriber too slow');
        continue;
      }
      const frame =
        ws.protocol === SUBPROTOCOL ? (v1 ??= textFrame(encodePush(SUBPROTOCOL, text))) : (plain ??= textFrame(text));
      socket.write(frame);
      sent++;
    }
    return sent;
  }

  /**
   * Sends `data` to another sketch — an instance name resolved over mDNS, or a `ws://` URL —
   * and resolves with its acknowledgement. Connections are reused per peer; messages to one
   * peer keep their order; several calls may be in flight at once. Non-strings are JSON-encoded.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND`, `SKETCH_ERR_PEER_UNREACHABLE`,
   *   `SKETCH_ERR_REMOTE`, `SKETCH_ERR_MDNS_DISABLED`, `SKETCH_ERR_CLOSED`.
   */
  stream(peer: string, data: unknown): Promise<string> {
    if (this.#closing) return Promise.reject(errors.CLOSED(`sketch "${this.name}"`));
    let p = this.#peers.get(peer);
    if (!p) {
      p = new Peer(peer, {
        discovery: this.#discovery,
        discoverTimeout: this.#config.discoverTimeout,
        log: (line) => this.out(line),
        ...this.#config.peer,
      });
      this.#peers.set(peer, p);
    }
    return p.send(typeof data === 'string' ? data : JSON.stringify(data));
  }

  /**
   * Stops serving: withdraws the mDNS record (goodbye, TTL 0), closes every client with
   * 1001 (going away) and every peer connection with 1000, runs `teardown()`, closes the
   * server. Safe to call twice; both calls resolve when done.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#abort.abort(errors.CLOSED(`sketch "${this.name}"`));
    const tasks: Promise<unknown>[] = [];
    await this.#announced;
    if (this.#announcement) tasks.push(this.#announcement.close());
    for (const set of this.#channels.values()) for (const ws of set.keys()) ws.close(1001, 'sketch stopping');
    for (const p of this.#peers.values()) tasks.push(p.close());
    await Promise.allSettled(tasks);
    if (this.teardown) {
      try {
        await this.teardown();
      } catch (err) {
        this.out(`teardown failed: ${oneLine(err)}`);
      }
    }
    if (this.#ownsDiscovery && this.#discovery) await this.#discovery.close().catch(() => {});
    const server = this.#server;
    const wss = this.#wss;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const set of this.#channels.values()) for (const ws of set.keys()) ws.terminate();
          server.closeAllConnections();
        }, 1000);
        timer.unref();
        wss?.close();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/**
 * One unmasked, final text frame (RFC 6455 §5.2) as a single buffer, built by ws's own framer.
 * Writing it straight to the socket is safe because sketches send no fragmented or compressed
 * messages (perMessageDeflate is off), so ws never holds a frame half-written.
 */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] }; // exported by ws, untyped in @types/ws
};

function textFrame(text: string): Buffer {
  const parts = Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function channelOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
