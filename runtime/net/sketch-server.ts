/**
 * The serving part of a sketch: its HTTP server and upgrade gate, WebSocket server and
 * heartbeat, stream hub, mDNS announcement, broker link, the peers it sends to and its spans.
 * A {@link Sketch} instance is attached to one and answers its messages; the server is what
 * clients, subscribers and peers are connected to, so it can outlive the instance (a reload
 * in place swaps the instance and keeps every connection).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { errors, oneLine } from '../errors.js';
import { LOG_TEXT_MAX, printable } from '../text.js';
import type { Logger } from '../log.js';
import { MdnsDiscovery, type Announcement, type Discovery } from '../discovery/mdns.js';
import type { HaEntity } from '../discovery/home-assistant.js';
import { dropUndefined } from '../options.js';
import { BrokerLink, brokerHost, type BrokerLinkOptions } from './broker-link.js';
import { checkBrokerUrl } from './broker.js';
import { clientName, IncomingLinks } from './links.js';
import { Senders } from './senders.js';
import { answerSpans, spansPath } from './spans-http.js';
import type { Tracer } from './spans.js';
import type { OtlpExporter } from './otlp.js';
import { startTracing } from './tracing.js';
import { Dedupe } from './dedupe.js';
import { Heartbeat, HEARTBEAT_MS } from './heartbeat.js';
import { pickSubprotocol, PROTOCOL_VERSION } from './protocol.js';
import { answerRoute, findRoute, refuseUpgrade, sendText, type HttpRoute, type HttpRoutes } from './routes.js';
import { isReactive, serveReactive, serveSilent, type LoopHost } from './reactive.js';
import { StreamHub } from '../streams/hub.js';
import { stepLine, wallClock } from '../streams/wall-clock.js';
import type { Outbox, OutboxOptions } from '../streams/outbox.js';
import type { DeliverPolicy } from '../streams/query.js';
import { statusPath, type SketchStatus } from '../streams/status.js';
import type { PublishOptions, Stream, StreamSpec } from '../streams/stream.js';
import { drivesHardware } from '../hardware/safe-state.js';
import { Gate } from '../security/gate.js';
import type { Right } from '../security/keys.js';
import type { ListenOptions, SketchAddress, SketchConfig } from '../sketch-config.js';
import { isLoopback } from '../security/transport.js';

/** Default `SketchConfig.maxConnections`: 512. */
export const MAX_CONNECTIONS = 512;
/** Default `SketchConfig.upgradeTimeout`, in ms: 10 000. */
export const UPGRADE_TIMEOUT_MS = 10_000;
/**
 * The test kit's constructor option (runtime/testing/): a `SketchConfig` holding a function under
 * this key is handed the sketch's server once it is made, to serve it in memory
 * ({@link SketchServer.serveInMemory}). A registered symbol: one key for every copy of this module.
 */
export const IN_MEMORY = Symbol.for('sketchnet.testing.server');
/** A refusal of an in-memory connection: the HTTP status and line a real upgrade would get. */
export interface InMemoryRefusal {
  status: number;
  line: string;
}

/** The sketch instance a server serves: what it asks of it. */
export interface Served extends LoopHost {
  /** The instance name: the server keeps it equal to its own (mDNS or the broker may rename). */
  name: string;
  readonly kind: string;
  readonly log: Logger;
  /** The status as `GET /.well-known/sketch` answers it (a subclass may add fields). */
  status(): SketchStatus;
  /** Plain HTTP routes, read once by `listen()`. */
  routes?(): HttpRoutes;
  /** The sketch's events: `connection`, `disconnect`, `rename`. */
  emit(event: 'connection' | 'disconnect' | 'rename', ...args: unknown[]): boolean;
}

/** What a server needs to know of its sketch besides the instance. */
export interface ServerParts {
  /** The first instance served. */
  served: Served;
  /** The instance name asked for (mDNS may settle on another: see {@link SketchServer.name}). */
  name: string;
  /** The class's `static streams`. */
  streams?: Record<string, StreamSpec>;
  /** The class's Home Assistant entities. */
  homeAssistant?: readonly HaEntity[];
  /** The peer given with `to`, if any: the tracer then propagates trace context from the start. */
  to?: string;
}

type Settings = Required<Pick<SketchConfig, 'discoverTimeout' | 'maxPayload' | 'maxBuffered' | 'heartbeat' | 'maxConnections' | 'upgradeTimeout'>> & SketchConfig;

/** See the module comment. */
export class SketchServer {
  readonly #config: Settings;
  readonly #parts: ServerParts;
  #served: Served;
  /** The instance name: as asked, then as announced. */
  name: string;
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
  readonly hub: StreamHub;
  /** Every peer it sends to: `stream()`'s connections and the outboxes. */
  readonly #senders: Senders;
  /** Every client connection (and broker sender), counted: the status's incoming links. */
  readonly #incoming = new IncomingLinks<object>();
  /** The spans of what this sketch handles and sends; undefined with `trace: false`. */
  readonly tracer?: Tracer;
  /** Sends the spans to a collector (`config.otlp`, `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly #otlp?: OtlpExporter;
  #link?: BrokerLink;
  #started = 0;
  #closing = false;
  /** What to undo on close (the wall-clock step listener). */
  readonly #stops: Array<() => void> = [];
  /** Each instance's `signal`: aborted when it is detached (a reload) or the server closes. */
  readonly #aborts = new WeakMap<Served, AbortController>();
  /** While an instance is being swapped in: messages wait for it. */
  #swapping?: Promise<void>;
  /** Routes of the code hosting the sketch ({@link addRoutes}): they outlive every instance. */
  readonly #hostRoutes: Record<string, HttpRoute> = {};
  /** Status fields of the code hosting the sketch ({@link addStatus}). */
  readonly #hostFields = new Map<string, () => unknown>();
  /** Forwards to whichever instance is attached now: a connection outlives an instance. */
  readonly #host: LoopHost = {
    loop: (channel, message) => (this.#swapping ? this.#swapping.then(() => this.#served.loop(channel, message)) : this.#served.loop(channel, message)),
    out: (text) => this.#served.out(text),
  };
  /** The server a sketch constructed inside {@link SketchServer.adopt} attaches to. */
  static #adopting?: SketchServer;
  static readonly #byServed = new WeakMap<Served, SketchServer>();

  /**
   * @throws SketchError `SKETCH_ERR_BROKER_URL` for a `config.broker.url` that is not an MQTT
   *   broker URL; `SKETCH_ERR_INVALID_OPTION` for a `config` number out of bounds, a stream
   *   declared out of bounds or a bad `config.otlp`; `SKETCH_ERR_OTLP_PROTOCOL`.
   */
  constructor(config: SketchConfig, parts: ServerParts) {
    this.#parts = parts;
    this.#served = parts.served;
    SketchServer.#byServed.set(parts.served, this);
    this.name = parts.name;
    this.#config = {
      discoverTimeout: 5000,
      maxPayload: 1024 * 1024,
      maxBuffered: 1024 * 1024,
      heartbeat: HEARTBEAT_MS,
      maxConnections: MAX_CONNECTIONS,
      upgradeTimeout: UPGRADE_TIMEOUT_MS,
      ...dropUndefined(config),
    };
    checkConfig(this.#config);
    if (config.broker) checkBrokerUrl(config.broker.url);
    const log = parts.served.log;
    this.#gate = new Gate({ keys: config.keys, allowOrigins: config.allowOrigins, log: (line) => log.warn(line) });
    this.hub = new StreamHub(
      parts.streams ?? {},
      {
        maxBuffered: this.#config.maxBuffered,
        log: (line) => log.warn(line),
        now: () => wallClock.now(), // µs resolution; steps of the wall clock noticed (runtime/streams/wall-clock.ts)
      },
      { spool: config.spool },
    );
    this.#ownsDiscovery = config.discovery === undefined;
    this.#discovery = config.discovery ?? new MdnsDiscovery({ log: (line) => log.warn(line) });
    ({ tracer: this.tracer, otlp: this.#otlp } = startTracing(config, { name: () => this.name, kind: parts.served.kind, sends: parts.to !== undefined, warn: (line) => log.warn(line) }));
    this.#senders = new Senders({
      name: () => this.name,
      discovery: this.#discovery,
      discoverTimeout: this.#config.discoverTimeout,
      peer: config.peer,
      broker: () => this.#link,
      tracer: this.tracer,
      spool: config.spool,
      spoolMax: config.spoolMax,
      log,
    });
    (config as { [IN_MEMORY]?: (server: SketchServer) => void })[IN_MEMORY]?.(this);
  }

  /** The instance answering messages now. */
  get served(): Served {
    return this.#served;
  }

  /**
   * Runs `make` (which constructs a sketch) so that the sketch attaches to `server` instead of
   * making its own: a reload in place builds the new instance so. Synchronous.
   */
  static adopt<T>(server: SketchServer, make: () => T): T {
    SketchServer.#adopting = server;
    try {
      return make();
    } finally {
      SketchServer.#adopting = undefined;
    }
  }

  /** The server `served` is attached to (or was, before a reload swapped it out). */
  static of(served: Served): SketchServer {
    const server = SketchServer.#byServed.get(served);
    if (!server) throw new Error('not a sketch attached to a server');
    return server;
  }

  /** The server being adopted by a sketch under construction (see {@link adopt}), if any. */
  static adopting(): SketchServer | undefined {
    return SketchServer.#adopting;
  }

  /** The `signal` of `served`: aborted when it is swapped out or the server closes. */
  signalOf(served: Served): AbortSignal {
    let abort = this.#aborts.get(served);
    if (!abort) this.#aborts.set(served, (abort = new AbortController()));
    return abort.signal;
  }

  /** Aborts the signal of `served` with `reason`. */
  abort(served: Served, reason: unknown): void {
    const signal = this.signalOf(served);
    if (!signal.aborted) this.#aborts.get(served)!.abort(reason);
  }

  /**
   * Swaps the instance in place: messages that arrive meanwhile wait; `change()` does the work
   * (teardown of the old, setup of the new) and resolves with the instance to serve from then
   * on (the new one, or the old one again on a rollback). The server, its connections, streams,
   * announcement and broker presence stay.
   */
  async swap(change: () => Promise<Served>): Promise<Served> {
    let done!: () => void;
    const previous = this.#swapping;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.#swapping = mine;
    try {
      await previous;
      const next = await change();
      SketchServer.#byServed.set(next, this);
      this.#served = next;
      next.name = this.name;
      return next;
    } finally {
      if (this.#swapping === mine) this.#swapping = undefined;
      done();
    }
  }

  /**
   * Serves `routes` besides the sketch's own, from now on, whichever instance is attached (they
   * win over a sketch route of the same path): the code hosting the sketch adds its own this way
   * (`sketch up --accept-push`: `POST /.well-known/sketch/push`). They pass the gate (Origin,
   * key) first, as the status does; `open` is ignored.
   */
  addRoutes(routes: HttpRoutes): void {
    for (const [path, route] of Object.entries(routes)) this.#hostRoutes[path] = { handle: route.handle };
  }

  /** Adds `field` to every status ({@link status}): what `value()` returns then, left out when undefined (`sketch up`: `code`, the pushed version). */
  addStatus(field: string, value: () => unknown): void {
    this.#hostFields.set(field, value);
  }

  /** Where it listens, once `listen()` resolved. */
  get address(): SketchAddress | undefined {
    return this.#address;
  }

  /** Resolves with the instance name once the mDNS announcement went out, or undefined (mDNS off or unavailable). */
  get announced(): Promise<string | undefined> {
    return this.#announced;
  }

  /**
   * Starts the HTTP and WebSocket servers, then the announcement (not awaited: see
   * `announced`) and, with a broker, waits for its first connection attempt.
   * @throws SketchError `SKETCH_ERR_PORT_IN_USE`, `SKETCH_ERR_LISTEN`, `SKETCH_ERR_CLOSED`,
   *   `SKETCH_ERR_BROKER_AUTH`.
   */
  async listen(listen: ListenOptions = {}): Promise<SketchAddress> {
    const { host, port } = { host: '0.0.0.0', port: 0, ...dropUndefined(listen) };
    const log = this.#served.log;
    const stopWatching = wallClock.onStep((ms) => this.#served.log.warn(stepLine(ms)));
    this.#stops.push(stopWatching);
    if (!this.#gate.locked && drivesHardware() && !isLoopback(host)) {
      log.warn(`warning: GPIO outputs and no keys: anyone who can reach ${host}:${port || 'PORT'} can drive them; add --key-file FILE ("sketch key new --write >> FILE")`);
    }
    const tls = this.#config.tls;
    const routes = this.#served.routes?.();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const route = findRoute(this.#hostRoutes, req.url) ?? findRoute(routes, req.url);
      const out = (line: string) => this.#served.out(line);
      if (route?.open) return answerRoute(route, req, res, undefined, out);
      const verdict = this.#gate.check(req);
      if (!verdict.ok) return void sendText(res, verdict.status, verdict.line);
      if (route) return answerRoute(route, req, res, verdict.right, out);
      if (req.method === 'GET' && statusPath(req.url)) {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${JSON.stringify(this.#served.status())}\n`);
        return;
      }
      if (req.method === 'GET' && spansPath(req.url)) return answerSpans(req, res, this.name, this.tracer);
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`sketch "${this.name}" (${this.#served.kind}) speaks WebSocket: connect to ${tls ? 'wss' : 'ws'}://HOST:PORT${req.url ?? '/'}\n`);
    };
    // Requests must be complete within upgradeTimeout (checked every 250 ms): a slowloris or an
    // idle connection is closed; oversized headers get 431 and garbage 400 (Node's own answers).
    const serverOptions = { headersTimeout: this.#config.upgradeTimeout, requestTimeout: this.#config.upgradeTimeout, connectionsCheckingInterval: 250 };
    const server: http.Server = tls ? https.createServer({ cert: tls.cert, key: tls.key, ...serverOptions }, handler) : http.createServer(serverOptions, handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? errors.PORT_IN_USE(host, port) : errors.LISTEN(host, port, err)));
      server.listen(port, host, () => resolve());
    });
    if (this.#closing) {
      server.close(); // closed while it started listening: close() did not see this server
      throw errors.CLOSED(`sketch "${this.name}"`);
    }
    server.on('error', (err) => this.#served.log.error(`server error: ${oneLine(err)}`));
    this.#server = server;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#config.maxPayload,
      perMessageDeflate: false, // frames are written around ws's Sender: see net/frame.ts
      handleProtocols: (offered) => pickSubprotocol(offered),
    });
    wss.on('error', (err) => this.#served.log.error(`server error: ${oneLine(err)}`));
    // Checked at the upgrade, before any WebSocket exists: a foreign Origin gets HTTP 403, a
    // missing or unknown key 401 (both before the path is looked at), a bad stream query 400.
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const verdict = this.#gate.check(req);
      if (!verdict.ok) return refuseUpgrade(socket, verdict.status, verdict.line);
      const check = this.hub.check(req.url ?? '/');
      if (!check.ok) return refuseUpgrade(socket, 400, check.error);
      if (this.hub.size >= this.#config.maxConnections) {
        if (!this.#full) this.#served.log.warn(`${this.#config.maxConnections} connections: refusing more (503) until one closes`);
        this.#full = true;
        return refuseUpgrade(socket, 503, `this sketch serves at most ${this.#config.maxConnections} connections: try again later`);
      }
      this.#full = false;
      wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req, check, verdict.right));
    });
    this.#wss = wss;
    this.#heartbeat = new Heartbeat(this.#config.heartbeat, (ws) => {
      this.#served.log.warn('a client did not answer pings: the link is dead, dropping it');
      ws.terminate();
    });
    this.#started = Date.now();
    const bound = (server.address() as AddressInfo).port;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    this.#address = { host, port: bound, url: `${tls ? 'wss' : 'ws'}://${shown.includes(':') ? `[${shown}]` : shown}:${bound}/`, name: this.name };
    this.#served.out(`serving on ${host}:${bound}${tls ? ' (TLS: wss://)' : ''}${this.#discovery ? '' : ' (mDNS off)'}`);
    this.#announced = this.#announce(bound);
    if (this.#config.broker) await this.#joinBroker(this.#config.broker, host, bound);
    return this.#address;
  }

  async #announce(port: number): Promise<string | undefined> {
    if (!this.#discovery) return undefined;
    const wanted = this.name;
    let a: Announcement;
    try {
      a = await this.#discovery.announce({ name: wanted, port, txt: this.#txt() });
    } catch (err) {
      this.#served.log.warn(`mDNS unavailable (${oneLine(err)}): serving without announcing; peers need --to ws://HOST:${port}`);
      return undefined;
    }
    this.#announcement = a;
    if (this.#closing) return a.name; // close() withdraws it
    if (a.name !== wanted) this.#served.out(`name "${wanted}" is taken on the network: announced as "${a.name}"`);
    this.#rename(a.name);
    a.on('rename', (next: string, old: string) => {
      this.#served.out(`name "${old}" conflicts with another sketch: now announced as "${next}"`);
      this.#rename(next);
      this.#served.emit('rename', next, old);
    });
    this.#served.out(`announced as "${a.name}" (mDNS _sketch._tcp)`);
    return a.name;
  }

  /**
   * Joins the broker once the mDNS name is settled: resolves when connected and present, or
   * when the first attempt failed (logged; retried in the background).
   * @throws SketchError `SKETCH_ERR_BROKER_AUTH`.
   */
  async #joinBroker(options: BrokerLinkOptions, host: string, port: number): Promise<void> {
    await this.#announced;
    const link = new BrokerLink(
      brokerHost(() => this.#served, {
        host,
        port,
        tls: !!this.#config.tls,
        dedupe: this.#dedupe,
        tracer: this.tracer,
        incoming: this.#incoming,
        streams: () => this.hub.paths(),
        haEntities: this.#parts.homeAssistant ?? [],
      }),
      options,
      (line) => this.#served.log.warn(line),
      (line) => this.#served.log.info(line),
    );
    this.#link = link;
    link.on('rename', (next) => this.#rename(next));
    await link.start();
  }

  /** The TXT record (RFC 6763 §6): `kind`, `protocol`, `tls=1` when serving TLS and, when there are any, `streams` (comma-separated paths). */
  #txt(): Record<string, string> {
    const txt: Record<string, string> = { kind: this.#served.kind, protocol: String(PROTOCOL_VERSION) };
    if (this.#config.tls) txt.tls = '1';
    const streams = this.hub.paths();
    if (streams.length) txt.streams = streams.join(',');
    return txt;
  }

  #rename(name: string): void {
    this.name = name;
    if (this.#address) this.#address.name = name;
    this.#served.name = name;
  }

  #accept(ws: WebSocket, req: http.IncomingMessage, { channel, policy, credit }: { channel: string; policy?: DeliverPolicy; credit?: number }, right: Right): void {
    const path = printable(channel, LOG_TEXT_MAX); // client-controlled: one line, bounded
    this.#served.out(`** new client connected, path=${path}`);
    ws.on('error', () => {}); // 'close' follows with the code and is logged there
    const from = clientName(req);
    const meter = this.#incoming.add(ws, from, channel);
    ws.on('close', (code, reason) => {
      this.hub.remove(ws, channel);
      this.#incoming.remove(ws);
      const why = reason.length ? ` ${printable(reason.toString(), LOG_TEXT_MAX)}` : '';
      if (code === 1000 || code === 1001 || code === 1005) this.#served.out(`client on ${path} left (${code}${why})`);
      else this.#served.out(`client on ${path} closed abnormally (${code}${why})`);
      this.#served.emit('disconnect', channel, code);
    });
    this.#heartbeat?.watch(ws);
    this.hub.add(ws, req.socket, channel, policy, credit);
    const control = (text: string) => this.hub.control(ws, text); // stream credit grants, before loop
    this.#served.emit('connection', channel);
    const serve = { socket: req.socket, control, meter, from, tracer: this.tracer };
    if (right === 'read') {
      // Messages are refused, in order, one error reply each: loop never sees them.
      serveReactive(this.#host, ws, channel, { ...serve, refuse: errors.FORBIDDEN('this key may only read: messages need a write key') });
    } else if (isReactive(this.#served.loop)) serveReactive(this.#host, ws, channel, { ...serve, dedupe: this.#dedupe });
    else serveSilent(this.#host, ws, channel, { ...serve, dedupe: this.#dedupe });
  }

  /**
   * Publishes on the stream at `path` and mirrors it to the broker.
   * @returns how many subscribers the stream has.
   */
  publish(path: string, data: unknown, options?: PublishOptions): number {
    const n = this.hub.publish(path, data, options);
    this.#link?.publish(path, data, this.hub.get(path)!.delivery);
    return n;
  }

  /** The stream at `path`, if there is one. */
  streamAt(path: string): Stream | undefined {
    return this.hub.get(path);
  }

  /** The base status of `served` (see `Sketch.status()`). */
  status(served: Served): SketchStatus {
    const { connections, streams } = this.hub.status();
    const status: SketchStatus = {
      name: this.name,
      kind: served.kind,
      protocol: PROTOCOL_VERSION,
      uptime: this.#started ? Math.round(Date.now() - this.#started) / 1000 : 0,
      acknowledges: isReactive(served.loop),
      connections,
      streams,
    };
    if (this.#link) status.broker = { url: this.#link.client.url, connected: this.#link.client.connected, name: this.#link.name ?? null };
    const forward = this.#senders.forward();
    if (forward) status.forward = forward;
    status.links = { out: this.#senders.links(), in: this.#incoming.status() };
    for (const [field, value] of this.#hostFields) {
      const v = value();
      if (v !== undefined) status[field] = v;
    }
    return status;
  }

  /** The outbox for `peer` (see `Sketch.outbox()`). */
  outbox(peer: string, options: OutboxOptions = {}): Outbox {
    return this.#senders.outbox(peer, options);
  }

  /** Sends `data` (text) to `peer` and resolves with its acknowledgement (see `Sketch.stream()`). */
  send(peer: string, data: string): Promise<string> {
    return this.#senders.link(peer).send(data);
  }

  /**
   * Stops serving: withdraws the announcement (goodbye), closes every client with 1001 and
   * every peer connection with 1000, runs `teardown` (the instance's), then closes the server.
   */
  async close(teardown: () => Promise<void>): Promise<void> {
    this.#closing = true;
    for (const stop of this.#stops.splice(0)) stop();
    this.#heartbeat?.stop();
    const tasks: Promise<unknown>[] = [];
    await this.#announced;
    if (this.#announcement) tasks.push(this.#announcement.close());
    if (this.#link) tasks.push(this.#link.close());
    for (const ws of this.hub.sockets()) ws.close(1001, 'sketch stopping');
    tasks.push(this.#senders.close());
    await Promise.allSettled(tasks);
    await teardown();
    await this.#otlp?.close(); // the spans of the closing connections too; at most OtlpOptions.closeTimeout
    if (this.#ownsDiscovery && this.#discovery) await this.#discovery.close().catch(() => {});
    const server = this.#server;
    const wss = this.#wss;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const ws of this.hub.sockets()) ws.terminate();
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
    this.hub.close();
  }

  // --- In memory: the test kit's (runtime/testing/) --------------------------------------------

  /**
   * Serves without a port, for the test kit: announces the sketch through its discovery under
   * `port` (a number that names it in memory, no TCP port is opened) and returns `accept`, which
   * takes one in-memory connection — a WebSocket-like object and the upgrade request it came
   * with — through what `listen()`'s upgrade handler checks (the gate, the path and stream query,
   * the connection cap), then serves it as any client: `loop` through the per-connection handler,
   * stream items, the status's links. `accept` returns the refusal instead (the HTTP status and
   * line a real upgrade gets), or `undefined` once the connection is served. In-memory
   * connections have no heartbeat: nothing between them can go silent.
   */
  serveInMemory(port: number): (ws: WebSocket, req: http.IncomingMessage) => InMemoryRefusal | undefined {
    this.#started ||= Date.now();
    this.#announced = this.#announce(port);
    return (ws, req) => {
      if (this.#closing) return { status: 503, line: `sketch "${this.name}" was closed` };
      const verdict = this.#gate.check(req);
      if (!verdict.ok) return verdict;
      const check = this.hub.check(req.url ?? '/');
      if (!check.ok) return { status: 400, line: check.error };
      if (this.hub.size >= this.#config.maxConnections) return { status: 503, line: `this sketch serves at most ${this.#config.maxConnections} connections: try again later` };
      this.#accept(ws, req, check, verdict.right);
      return undefined;
    };
  }
}

/**
 * Checks the numbers of a {@link SketchConfig} (like ws' option checks: a bad value fails at
 * construction, not at the first message).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION`.
 */
function checkConfig(c: Settings): void {
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
