import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { errors, oneLine } from './errors.js';
import { LOG_TEXT_MAX, printable } from './text.js';
import { createLogger, lineStream, type Logger, type LoggerOptions } from './log.js';
import { MdnsDiscovery, type Announcement, type Discovery } from './discovery/mdns.js';
import { dropUndefined, resolveOptions, type OptionSchema } from './options.js';
import type { PeerOptions } from './net/peer.js';
import { BrokerLink, brokerHost, type BrokerLinkOptions } from './net/broker-link.js';
import { checkBrokerUrl } from './net/broker.js';
import type { Route } from './net/route.js'; // {@link Route}
import { clientName, IncomingLinks } from './net/links.js';
import { Senders } from './net/senders.js';
import { answerSpans, spansPath } from './net/spans-http.js';
import type { Tracer } from './net/spans.js';
import type { OtlpExporter } from './net/otlp.js';
import { startTracing, type TracingConfig } from './net/tracing.js';
import type { HaEntity } from './discovery/home-assistant.js';
import { Dedupe } from './net/dedupe.js';
import { Heartbeat, HEARTBEAT_MS } from './net/heartbeat.js';
import { pickSubprotocol, PROTOCOL_VERSION } from './net/protocol.js';
import { answerRoute, findRoute, refuseUpgrade, sendText, type HttpRoutes } from './net/routes.js';
import { isReactive, serveReactive, serveSilent } from './net/reactive.js';
import { StreamHub } from './streams/hub.js';
import { stepLine, wallClock } from './streams/wall-clock.js';
import type { Outbox, OutboxOptions } from './streams/outbox.js';
import type { DeliverPolicy } from './streams/query.js';
import { statusPath, type SketchStatus } from './streams/status.js';
import { drivesHardware } from './hardware/safe-state.js';
import { Gate } from './security/gate.js';
import type { AccessKey, Right } from './security/keys.js';
import type { OriginRule } from './security/origin.js';
import type { TlsIdentity } from './security/tls.js';
import type { PublishOptions, Stream, StreamSpec } from './streams/stream.js';

/** How a sketch is built: `new MySketch(config)`. Every field is optional; the tracing fields are {@link TracingConfig}'s. */
export interface SketchConfig extends TracingConfig {
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
  /**
   * A SQLite file (`--spool`) holding what waits in the sketch's outboxes (`--to` on a producer),
   * one queue per peer, and its streams' epoch, seq and history (a restarted stream goes on in
   * the same epoch): it survives a restart, a SIGKILL or a power cut (see runtime/streams/spool.ts
   * and stream-spool.ts for what a power cut can still lose). Default none: in memory.
   */
  spool?: string;
  /** MB (10^6 bytes) of items the spool holds per peer at most (`--spool-max`); past it the oldest unsent are dropped and counted in the outbox's `dropped`. Default: no bound but the outbox's `maxItems`. */
  spoolMax?: number;
  /** Largest message accepted, in bytes; a bigger one closes the connection with 1009. Default 1 MiB. */
  maxPayload?: number;
  /**
   * Bytes a subscriber of a `delivery: 'all'` stream may have waiting unsent (items published
   * for it but not sent, plus its socket's unsent bytes) before it is closed with 1013 (try
   * again later) instead of falling further behind. Default 1 MiB.
   */
  maxBuffered?: number;
  /** Retry, backoff, timeout and key settings for connections made by `stream()` and `outbox()`. */
  peer?: Pick<PeerOptions, 'retries' | 'backoff' | 'handshakeTimeout' | 'subprotocol' | 'key' | 'insecureKey' | 'ca' | 'heartbeat' | 'ackTimeout'>;
  /**
   * Ping interval for clients, in ms: a client that misses a pong is dropped (1006), so a silent
   * link is found within two intervals. Default 5000; 0 turns it off.
   */
  heartbeat?: number;
  /**
   * Most WebSocket connections at once; one more is refused with HTTP 503 and one log line per
   * burst. Default 512 (below the 1024 open files a process gets by default, so that the sketch
   * can always answer).
   */
  maxConnections?: number;
  /**
   * How long a connection may take to send its complete upgrade request, in ms: a slow or idle
   * one (slowloris) is closed after it. Default 10 000.
   */
  upgradeTimeout?: number;
  /**
   * Access keys (`--key-file`): with any, every connection and status request must present one
   * (HTTP 401 otherwise), and only `write` keys may send messages to `loop` (a `read` key gets
   * a `SKETCH_ERR_FORBIDDEN` error reply). Default none: open to everyone who can reach it.
   */
  keys?: readonly AccessKey[];
  /**
   * Browser origins allowed besides the sketch's own (`--allow-origin`): an upgrade with any
   * other `Origin` header gets HTTP 403; `'*'` allows all. Default none.
   */
  allowOrigins?: readonly OriginRule[];
  /**
   * Serve `wss://` with this certificate (chain) and private key, PEM (`--tls-cert`,
   * `--tls-key`); the TXT record then says `tls=1`. Default none: plain `ws://`.
   */
  tls?: TlsIdentity;
  /** Where text lines go, one call per line without time (`[ Label ] text`); overrides `logging.stream`. Default: stdout. */
  log?: (line: string) => void;
  /** Format, level, times of log lines (`--log-format`, `--quiet`, `--verbose`): see `createLogger`. Default: text, `info`. */
  logging?: Omit<LoggerOptions, 'name' | 'label'>;
  /**
   * An MQTT 5 broker to be present on, serve requests and mirror streams through, and find
   * peers on besides mDNS (`--broker`; see {@link BrokerLink}). Default none.
   */
  broker?: BrokerLinkOptions;
}

/** The events a {@link Sketch} emits, with their arguments. */
export interface SketchEvents {
  /** A client connected on `channel` (its request path). */
  connection: [channel: string];
  /** A client's connection on `channel` closed with `code` (1000/1001/1005: normal; else abnormal). */
  disconnect: [channel: string, code: number];
  /** Another sketch announced our name after us: we now announce `newName`. */
  rename: [newName: string, oldName: string];
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
  /** The streams the sketch publishes, by path (announced in the TXT record `streams=`). */
  streams?: Record<string, StreamSpec>;
  /** Whether it drives GPIO pins with these resolved options (`sketch service install` adds the `gpio` group). */
  drivesPins?(options: Record<string, unknown>): boolean;
  /** Entities offered to Home Assistant with `--ha-discovery` (see `haDiscoveryConfigs`). */
  homeAssistant?: readonly HaEntity[];
  readonly name: string;
}

/**
 * The Arduino-like base class. Subclass it, declare `static options`, implement `setup()`
 * (runs once before serving) and `loop(channel, message)` (decorated with `@reactive` to
 * acknowledge each message), optionally `main()` for sketches that act on their own (the
 * clock), and `teardown()` to release hardware.
 *
 * Declare the streams it publishes with `static streams` (history and slow-subscriber policy
 * per path); `publish(path, data)` appends to one, and clients connected on its path
 * receive its items, starting where their query string says (`?last=N`, `?history=all`,
 * `?since=T`, `?after_seq=S`, `?new`). `GET /.well-known/sketch` answers the status as JSON.
 *
 * Events: `connection` `(channel: string)`, `disconnect` `(channel: string, code: number)`,
 * `rename` `(newName: string, oldName: string)` when mDNS forced a new instance name.
 */
export class Sketch<O extends Record<string, unknown> = Record<string, unknown>> extends EventEmitter<SketchEvents> {
  /** Sketch kind, announced in the TXT record (`kind=`). Default: the class name in lower case. */
  static kind?: string;
  /** One-line description shown by `sketch run --help`. */
  static description?: string;
  /** The sketch's option schema; each entry becomes a `--flag`. Default: none. */
  static options?: OptionSchema;
  /** Default peer for `--to`. Default: none. */
  static defaultTo?: string;
  /**
   * The streams this sketch publishes, by path: `{ '/readings': { history: 1000, delivery: 'latest' } }`.
   * Listed in the TXT record (`streams=/readings`) and the status. Default: none (a path
   * published to without a declaration becomes a stream with the defaults then).
   */
  static streams?: Record<string, StreamSpec>;
  /**
   * Whether the sketch drives GPIO pins with these (resolved) options: `sketch service install`
   * then adds `SupplementaryGroups=gpio` to its unit. Default: undefined, meaning it does not.
   */
  static drivesPins?(options: Record<string, unknown>): boolean;

  /** Resolved options (defaults spread first, then validated), available from `setup()` on. */
  readonly options: O;
  /** Current instance name (announced over mDNS unless disabled). */
  name: string;
  /** The sketch kind (TXT `kind=`). */
  readonly kind: string;
  /** The peer given with `to` (`--to`), or the class's `defaultTo`; undefined when neither. */
  readonly to: string | undefined;

  /** Log lines by level: `this.log.debug(text)` only with `--verbose`, `warn`/`error` even with `--quiet`; `out(text)` is `log.info(text)`. */
  readonly log: Logger;

  readonly #config: Required<Omit<SketchConfig, 'discovery' | 'name' | 'options' | 'peer' | 'to' | 'keys' | 'allowOrigins' | 'tls' | 'log' | 'logging' | 'broker' | 'trace' | 'spans' | 'otlp' | 'traceRate' | 'spool' | 'spoolMax'>> & {
    peer: SketchConfig['peer'];
    tls: TlsIdentity | undefined;
    broker: BrokerLinkOptions | undefined;
  };
  readonly #gate: Gate;
  /** Replies to `sketchnet.v3` requests, kept so that a resent one is not applied twice. */
  readonly #dedupe = new Dedupe();
  #heartbeat?: Heartbeat;
  /** Whether the last upgrade was refused for the connection cap (one log line per burst). */
  #full = false;
  readonly #discovery: Discovery | false;
  readonly #ownsDiscovery: boolean;
  #server?: http.Server;
  #wss?: WebSocketServer;
  #announcement?: Announcement;
  #announced: Promise<string | undefined> = Promise.resolve(undefined);
  #address?: SketchAddress;
  /** Every stream and every connection, by channel. */
  readonly #hub: StreamHub;
  /** Every peer it sends to: `stream()`'s connections and the outboxes. */
  readonly #senders: Senders;
  /** Every client connection (and broker sender), counted: the status's incoming links. */
  readonly #incoming = new IncomingLinks<object>();
  /** The spans of what this sketch handles and sends; undefined with `trace: false`. */
  readonly #tracer?: Tracer;
  /** Sends the spans to a collector (`config.otlp`, `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly #otlp?: OtlpExporter;
  #link?: BrokerLink;
  #started = 0;
  #closing?: Promise<void>;
  #running = false;
  readonly #abort = new AbortController();

  /**
   * @throws SketchError `SKETCH_ERR_BROKER_URL` for a `config.broker.url` that is not an MQTT broker URL;
   *   `SKETCH_ERR_INVALID_OPTION` when `config.options` does not fit the
   *   class's option schema, a `config` number is out of bounds, or `static streams`
   *   declares a stream out of bounds, or `config.otlp` has a bad endpoint or number;
   *   `SKETCH_ERR_OTLP_PROTOCOL` when export is on and `OTEL_EXPORTER_OTLP_PROTOCOL` is not `http/json`.
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
      heartbeat: HEARTBEAT_MS,
      maxConnections: MAX_CONNECTIONS,
      upgradeTimeout: UPGRADE_TIMEOUT_MS,
      ...dropUndefined(config),
      peer: config.peer,
      tls: config.tls,
      broker: config.broker,
    };
    checkConfig(this.#config);
    if (config.broker) checkBrokerUrl(config.broker.url);
    const sink = config.log ? { stream: lineStream(config.log), time: false } : {};
    this.log = createLogger({ ...config.logging, ...sink, name: () => this.name, label: () => this.label });
    this.#gate = new Gate({ keys: config.keys, allowOrigins: config.allowOrigins, log: (line) => this.log.warn(line) });
    this.#hub = new StreamHub(cls.streams ?? {}, {
      maxBuffered: this.#config.maxBuffered,
      log: (line) => this.log.warn(line),
      now: () => wallClock.now(), // µs resolution; steps of the wall clock noticed (runtime/streams/wall-clock.ts)
    }, { spool: config.spool });
    this.#ownsDiscovery = config.discovery === undefined;
    this.#discovery = config.discovery ?? new MdnsDiscovery({ log: (line) => this.log.warn(line) });
    ({ tracer: this.#tracer, otlp: this.#otlp } = startTracing(config, { name: () => this.name, kind: this.kind, sends: this.to !== undefined, warn: (line) => this.log.warn(line) }));
    this.#senders = new Senders({
      name: () => this.name,
      discovery: this.#discovery,
      discoverTimeout: this.#config.discoverTimeout,
      peer: this.#config.peer,
      broker: () => this.#link,
      tracer: this.#tracer,
      spool: config.spool,
      spoolMax: config.spoolMax,
      log: this.log,
    });
  }

  /** The sketch's spans (ring, exporters: `tracer.onEnd`); undefined with `trace: false`. */
  get tracer(): Tracer | undefined {
    return this.#tracer;
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

  /**
   * Optional: plain HTTP routes besides the status, by path (see {@link HttpRoute}); read once
   * by `run()`. Routes not marked `open` pass the gate (Origin, key) first.
   */
  routes?(): HttpRoutes;

  /** Writes one log line (level `info`) prefixed with the sketch's label: `[ IOPin ] text`. */
  out(text: string): void {
    this.log.info(text);
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
   * A sketch runs once: `run()` again, or after `close()`, is refused.
   * With `broker`, it also waits for the broker's first connection attempt (and the presence).
   * @throws SketchError `SKETCH_ERR_PORT_IN_USE`, `SKETCH_ERR_LISTEN`, `SKETCH_ERR_CLOSED`
   *   (closed before or while starting), `SKETCH_ERR_ALREADY_RUNNING`, `SKETCH_ERR_BROKER_AUTH`
   *   (the broker refused the credentials: the sketch listens, close it).
   */
  async run(listen: ListenOptions = {}): Promise<SketchAddress> {
    if (this.#closing) throw errors.CLOSED(`sketch "${this.name}"`);
    if (this.#running) throw errors.ALREADY_RUNNING(this.name);
    this.#running = true;
    const stopWatching = wallClock.onStep((ms) => this.log.warn(stepLine(ms)));
    this.#abort.signal.addEventListener('abort', stopWatching, { once: true });
    const { host, port } = { host: '0.0.0.0', port: 0, ...dropUndefined(listen) };
    await this.setup(this.options);
    if (this.#closing) throw errors.CLOSED(`sketch "${this.name}"`); // closed during setup()
    if (!this.#gate.locked && drivesHardware() && !isLoopback(host)) {
      this.log.warn(`warning: GPIO outputs and no keys: anyone who can reach ${host}:${port || 'PORT'} can drive them; add --key-file FILE ("sketch key new --write >> FILE")`);
    }
    const tlsIdentity = this.#config.tls;
    const routes = this.routes?.();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const route = findRoute(routes, req.url);
      if (route?.open) return answerRoute(route, req, res, undefined, (line) => this.out(line));
      const verdict = this.#gate.check(req);
      if (!verdict.ok) return void sendText(res, verdict.status, verdict.line);
      if (route) return answerRoute(route, req, res, verdict.right, (line) => this.out(line));
      if (req.method === 'GET' && statusPath(req.url)) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${JSON.stringify(this.status())}\n`);
        return;
      }
      if (req.method === 'GET' && spansPath(req.url)) return answerSpans(req, res, this.name, this.#tracer);
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`sketch "${this.name}" (${this.kind}) speaks WebSocket: connect to ${tlsIdentity ? 'wss' : 'ws'}://HOST:PORT${req.url ?? '/'}\n`);
    };
    // Requests must be complete within upgradeTimeout (checked every 250 ms): a slowloris or an
    // idle connection is closed; oversized headers get 431 and garbage 400 (Node's own answers).
    const serverOptions = { headersTimeout: this.#config.upgradeTimeout, requestTimeout: this.#config.upgradeTimeout, connectionsCheckingInterval: 250 };
    const server: http.Server = tlsIdentity
      ? https.createServer({ cert: tlsIdentity.cert, key: tlsIdentity.key, ...serverOptions }, handler)
      : http.createServer(serverOptions, handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? errors.PORT_IN_USE(host, port) : errors.LISTEN(host, port, err)),
      );
      server.listen(port, host, () => resolve());
    });
    if (this.#closing) {
      server.close(); // closed while it started listening: #close() did not see this server
      throw errors.CLOSED(`sketch "${this.name}"`);
    }
    server.on('error', (err) => this.log.error(`server error: ${oneLine(err)}`));
    this.#server = server;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#config.maxPayload,
      perMessageDeflate: false, // frames are written around ws's Sender: see net/frame.ts
      handleProtocols: (offered) => pickSubprotocol(offered),
    });
    wss.on('error', (err) => this.log.error(`server error: ${oneLine(err)}`));
    // Checked at the upgrade, before any WebSocket exists: a foreign Origin gets HTTP 403, a
    // missing or unknown key 401 (both before the path is looked at), a bad stream query 400.
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const verdict = this.#gate.check(req);
      if (!verdict.ok) return refuseUpgrade(socket, verdict.status, verdict.line);
      const check = this.#hub.check(req.url ?? '/');
      if (!check.ok) return refuseUpgrade(socket, 400, check.error);
      if (this.#hub.size >= this.#config.maxConnections) {
        if (!this.#full) this.log.warn(`${this.#config.maxConnections} connections: refusing more (503) until one closes`);
        this.#full = true;
        return refuseUpgrade(socket, 503, `this sketch serves at most ${this.#config.maxConnections} connections: try again later`);
      }
      this.#full = false;
      wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req, check, verdict.right));
    });
    this.#wss = wss;
    this.#heartbeat = new Heartbeat(this.#config.heartbeat, (ws) => {
      this.log.warn('a client did not answer pings: the link is dead, dropping it');
      ws.terminate();
    });
    this.#started = Date.now();
    const bound = (server.address() as AddressInfo).port;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const scheme = tlsIdentity ? 'wss' : 'ws';
    this.#address = { host, port: bound, url: `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${bound}/`, name: this.name };
    this.out(`serving on ${host}:${bound}${tlsIdentity ? ' (TLS: wss://)' : ''}${this.#discovery ? '' : ' (mDNS off)'}`);
    this.#announced = this.#announce(bound);
    if (this.#config.broker) await this.#joinBroker(this.#config.broker, host, bound);
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
      a = await this.#discovery.announce({ name: wanted, port, txt: this.#txt() });
    } catch (err) {
      this.log.warn(`mDNS unavailable (${oneLine(err)}): serving without announcing; peers need --to ws://HOST:${port}`);
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

  /**
   * Joins the broker once the mDNS name is settled: resolves when connected and present, or
   * when the first attempt failed (logged; retried in the background).
   * @throws SketchError `SKETCH_ERR_BROKER_AUTH`.
   */
  async #joinBroker(options: BrokerLinkOptions, host: string, port: number): Promise<void> {
    await this.#announced;
    const cls = this.constructor as SketchClass;
    const link = new BrokerLink(
      brokerHost(this, {
        host,
        port,
        tls: !!this.#config.tls,
        dedupe: this.#dedupe,
        tracer: this.#tracer,
        incoming: this.#incoming,
        streams: () => this.#hub.paths(),
        haEntities: cls.homeAssistant ?? [],
      }),
      options,
      (line) => this.log.warn(line),
      (line) => this.log.info(line),
    );
    this.#link = link;
    link.on('rename', (next) => this.#rename(next));
    await link.start();
  }

  /** The TXT record (RFC 6763 §6): `kind`, `protocol`, `tls=1` when serving TLS and, when there are any, `streams` (comma-separated paths). */
  #txt(): Record<string, string> {
    const txt: Record<string, string> = { kind: this.kind, protocol: String(PROTOCOL_VERSION) };
    if (this.#config.tls) txt.tls = '1';
    const streams = this.#hub.paths();
    if (streams.length) txt.streams = streams.join(',');
    return txt;
  }

  #rename(name: string): void {
    this.name = name;
    if (this.#address) this.#address.name = name;
  }

  #accept(ws: WebSocket, req: http.IncomingMessage, { channel, policy, credit }: { channel: string; policy?: DeliverPolicy; credit?: number }, right: Right): void {
    const path = printable(channel, LOG_TEXT_MAX); // client-controlled: one line, bounded
    this.out(`** new client connected, path=${path}`);
    ws.on('error', () => {}); // 'close' follows with the code and is logged there
    const from = clientName(req);
    const meter = this.#incoming.add(ws, from, channel);
    ws.on('close', (code, reason) => {
      this.#hub.remove(ws, channel);
      this.#incoming.remove(ws);
      const why = reason.length ? ` ${printable(reason.toString(), LOG_TEXT_MAX)}` : '';
      if (code === 1000 || code === 1001 || code === 1005) this.out(`client on ${path} left (${code}${why})`);
      else this.out(`client on ${path} closed abnormally (${code}${why})`);
      this.emit('disconnect', channel, code);
    });
    this.#heartbeat?.watch(ws);
    this.#hub.add(ws, req.socket, channel, policy, credit);
    const control = (text: string) => this.#hub.control(ws, text); // stream credit grants, before loop
    this.emit('connection', channel);
    const serve = { socket: req.socket, control, meter, from, tracer: this.#tracer };
    if (right === 'read') {
      // Messages are refused, in order, one error reply each: loop never sees them.
      serveReactive(this, ws, channel, { ...serve, refuse: errors.FORBIDDEN('this key may only read: messages need a write key') });
    } else if (isReactive(this.loop)) serveReactive(this, ws, channel, { ...serve, dedupe: this.#dedupe });
    else serveSilent(this, ws, channel, { ...serve, dedupe: this.#dedupe });
  }

  /** How many clients are connected on `channel` (e.g. `/readings`). */
  subscribers(channel: string): number {
    return this.#hub.connections(channel);
  }

  /**
   * Publishes `data` on the stream at `path` (strings as they are, anything else as JSON):
   * it gets the next `seq`, goes into the stream's history and to every subscriber. A path
   * not declared in `static streams` becomes a stream with the defaults (1000 items, 1 MiB,
   * `delivery: 'all'`). `options.time` is when the sample was taken, in seconds since the
   * epoch (default: now).
   * @returns how many subscribers the stream has.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` when `path` does not start with `/`.
   */
  publish(path: string, data: unknown, options?: PublishOptions): number {
    const n = this.#hub.publish(path, data, options);
    this.#link?.publish(path, data, this.#hub.get(path)!.delivery);
    return n;
  }

  /** The stream at `path` (its history, epoch and status), if there is one. */
  streamAt(path: string): Stream | undefined {
    return this.#hub.get(path);
  }

  /**
   * The sketch's status, as `GET /.well-known/sketch` answers it: name, kind, protocol,
   * uptime, whether messages are acknowledged, connections per path, every stream's figures and every outbox's. Subclasses may
   * extend it (`{ ...super.status(), sensor: … }`).
   */
  status(): SketchStatus {
    const { connections, streams } = this.#hub.status();
    const status: SketchStatus = {
      name: this.name,
      kind: this.kind,
      protocol: PROTOCOL_VERSION,
      uptime: this.#started ? Math.round(Date.now() - this.#started) / 1000 : 0,
      acknowledges: isReactive(this.loop),
      connections,
      streams,
    };
    if (this.#link) status.broker = { url: this.#link.client.url, connected: this.#link.client.connected, name: this.#link.name ?? null };
    const forward = this.#senders.forward();
    if (forward) status.forward = forward;
    status.links = { out: this.#senders.links(), in: this.#incoming.status() };
    return status;
  }

  /**
   * The outbox for `peer` (an instance name or `ws://` URL): items `push()`ed to it are
   * queued (bounded), delivered in order at-least-once, batched when the peer is behind,
   * rate-limited if asked, and retried with backoff while the peer is missing — the sketch
   * never waits for it. Made on first use (later `options` are ignored), closed with the
   * sketch, and reported in the status under `forward`.
   */
  outbox(peer: string, options: OutboxOptions = {}): Outbox {
    return this.#senders.outbox(peer, options);
  }

  /**
   * Sends `data` to another sketch — an instance name resolved over mDNS (and, with `broker`,
   * on the broker: through it when the peer is not on this LAN, see {@link Route}), or a `ws://` URL —
   * and resolves with its acknowledgement. Connections are reused per peer; messages to one
   * peer keep their order; several calls may be in flight at once. Non-strings are JSON-encoded.
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND`, `SKETCH_ERR_PEER_UNREACHABLE`,
   *   `SKETCH_ERR_REMOTE`, `SKETCH_ERR_MDNS_DISABLED`, `SKETCH_ERR_CLOSED`, `SKETCH_ERR_BROKER_UNREACHABLE`.
   */
  stream(peer: string, data: unknown): Promise<string> {
    if (this.#closing) return Promise.reject(errors.CLOSED(`sketch "${this.name}"`));
    return this.#senders.link(peer).send(typeof data === 'string' ? data : JSON.stringify(data));
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
    this.#heartbeat?.stop();
    const tasks: Promise<unknown>[] = [];
    await this.#announced;
    if (this.#announcement) tasks.push(this.#announcement.close());
    if (this.#link) tasks.push(this.#link.close());
    for (const ws of this.#hub.sockets()) ws.close(1001, 'sketch stopping');
    tasks.push(this.#senders.close());
    await Promise.allSettled(tasks);
    if (this.teardown) {
      try {
        await this.teardown();
      } catch (err) {
        this.log.error(`teardown failed: ${oneLine(err)}`);
      }
    }
    await this.#otlp?.close(); // the spans of the closing connections too; at most OtlpOptions.closeTimeout
    if (this.#ownsDiscovery && this.#discovery) await this.#discovery.close().catch(() => {});
    const server = this.#server;
    const wss = this.#wss;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const ws of this.#hub.sockets()) ws.terminate();
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
    this.#hub.close();
  }
}

/**
 * Checks the numbers of a {@link SketchConfig} (like ws' option checks: a bad value fails at
 * construction, not at the first message).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION`.
 */
function checkConfig(c: {
  discoverTimeout: number;
  maxPayload: number;
  maxBuffered: number;
  heartbeat: number;
  maxConnections: number;
  upgradeTimeout: number;
}): void {
  const check = (name: string, value: number, min: number, unit: string) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw errors.INVALID_OPTION(`SketchConfig.${name} must be a number of ${unit} ≥ ${min}, got ${JSON.stringify(value)}`);
    }
  };
  check('discoverTimeout', c.discoverTimeout, 0, 'ms');
  check('maxPayload', c.maxPayload, 1, 'bytes');
  check('maxBuffered', c.maxBuffered, 1024, 'bytes');
  check('heartbeat', c.heartbeat, 0, 'ms');
  check('maxConnections', c.maxConnections, 1, 'connections');
  check('upgradeTimeout', c.upgradeTimeout, 1, 'ms');
}

/** Default `SketchConfig.maxConnections`: 512. */
export const MAX_CONNECTIONS = 512;
/** Default `SketchConfig.upgradeTimeout`, in ms: 10 000. */
export const UPGRADE_TIMEOUT_MS = 10_000;

/** Whether `host` only listens on loopback (127.0.0.0/8, ::1, localhost). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
