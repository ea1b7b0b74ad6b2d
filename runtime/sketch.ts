/**
 * The Arduino-like base class (the runtime's core: a sketch, its options and its hooks; the
 * serving part is a {@link SketchServer}, runtime/net/sketch-server.ts).
 */
import { EventEmitter } from 'node:events';
import { errors, oneLine } from './errors.js';
import { createLogger, lineStream, type Logger } from './log.js';
import { resolveOptions, type OptionSchema } from './options.js';
import type { HttpRoutes } from './net/routes.js';
import { SketchServer } from './net/sketch-server.js';
import type { Tracer } from './net/spans.js';
import type { Outbox, OutboxOptions } from './streams/outbox.js';
import type { SketchStatus } from './streams/status.js';
import type { PublishOptions, Stream, StreamSpec } from './streams/stream.js';
import type { ListenOptions, SketchAddress, SketchClass, SketchConfig, SketchEvents } from './sketch-config.js';

export type { ListenOptions, SketchAddress, SketchClass, SketchConfig, SketchEvents } from './sketch-config.js';
export { MAX_CONNECTIONS, UPGRADE_TIMEOUT_MS } from './net/sketch-server.js';

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
  readonly #server: SketchServer;
  #closing?: Promise<void>;
  #running = false;

  /**
   * @throws SketchError `SKETCH_ERR_BROKER_URL` for a `config.broker.url` that is not an MQTT broker URL;
   *   `SKETCH_ERR_INVALID_OPTION` when `config.options` does not fit the class's option schema,
   *   a `config` number is out of bounds, `static streams` declares a stream out of bounds, or
   *   `config.otlp` has a bad endpoint or number; `SKETCH_ERR_OTLP_PROTOCOL` when export is on
   *   and `OTEL_EXPORTER_OTLP_PROTOCOL` is not `http/json`.
   */
  constructor(config: SketchConfig = {}) {
    super();
    const cls = this.constructor as SketchClass;
    this.kind = cls.kind ?? cls.name.toLowerCase();
    const adopted = SketchServer.adopting(); // a reload in place: attach to the running server
    this.name = adopted?.name ?? config.name ?? this.kind;
    this.to = config.to ?? cls.defaultTo;
    this.options = resolveOptions(cls.options ?? {}, config.options) as O;
    const sink = config.log ? { stream: lineStream(config.log), time: false } : {};
    this.log = createLogger({ ...config.logging, ...sink, name: () => this.name, label: () => this.label });
    const parts = { served: this, name: this.name, streams: cls.streams, homeAssistant: cls.homeAssistant, to: this.to };
    this.#server = adopted ?? new SketchServer(config, parts);
  }

  /** The sketch's spans (ring, exporters: `tracer.onEnd`); undefined with `trace: false`. */
  get tracer(): Tracer | undefined {
    return this.#server.tracer;
  }

  /**
   * Runs once before the server starts; may be async. Override it. After a reload in place
   * (`--watch`, `sketch push`) it runs on the new instance with what the old one's `handoff()`
   * returned as `handed` (undefined otherwise).
   */
  setup(_options: O, _handed?: unknown): void | Promise<void> {}

  /** Optional: state to hand to the next version on a reload in place (its `setup()`'s `handed`), asked before `teardown()`. */
  handoff?(): unknown;

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

  /** Optional: plain HTTP routes besides the status, by path (see `HttpRoute`), read once by `run()`; those not `open` pass the gate (Origin, key) first. */
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
    return this.#server.signalOf(this);
  }

  /** Where the sketch listens, once `run()` resolved. */
  get address(): SketchAddress | undefined {
    return this.#server.address;
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
    await this.setup(this.options);
    if (this.#closing) throw errors.CLOSED(`sketch "${this.name}"`); // closed during setup()
    return this.#server.listen(listen);
  }

  /**
   * Resolves with the instance name once the mDNS announcement went out (after `run()`
   * resolved: the sketch already serves while it announces), or `undefined` with mDNS off or
   * unavailable (then a line is logged and the sketch serves unannounced).
   */
  get announced(): Promise<string | undefined> {
    return this.#server.announced;
  }

  /** How many clients are connected on `channel` (e.g. `/readings`). */
  subscribers(channel: string): number {
    return this.#server.hub.connections(channel);
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
    return this.#server.publish(path, data, options);
  }

  /** The stream at `path` (its history, epoch and status), if there is one. */
  streamAt(path: string): Stream | undefined {
    return this.#server.streamAt(path);
  }

  /**
   * The sketch's status, as `GET /.well-known/sketch` answers it: name, kind, protocol, uptime,
   * whether messages are acknowledged, connections per path, every stream's figures, every
   * outbox's and its links. Subclasses may extend it (`{ ...super.status(), sensor: … }`).
   */
  status(): SketchStatus {
    return this.#server.status(this);
  }

  /**
   * The outbox for `peer` (an instance name or `ws://` URL): items `push()`ed to it are
   * queued (bounded), delivered in order at-least-once, batched when the peer is behind,
   * rate-limited if asked, and retried with backoff while the peer is missing — the sketch
   * never waits for it. Made on first use (later `options` are ignored), closed with the
   * sketch, and reported in the status under `forward`.
   */
  outbox(peer: string, options: OutboxOptions = {}): Outbox {
    return this.#server.outbox(peer, options);
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
    return this.#server.send(peer, typeof data === 'string' ? data : JSON.stringify(data));
  }

  /**
   * Stops serving: withdraws the mDNS record (goodbye, TTL 0), closes every client with
   * 1001 (going away) and every peer connection with 1000, runs `teardown()`, closes the
   * server. Safe to call twice; both calls resolve when done.
   */
  close(): Promise<void> {
    this.#server.abort(this, errors.CLOSED(`sketch "${this.name}"`));
    this.#closing ??= this.#server.close(async () => {
      try {
        await this.teardown?.();
      } catch (err) {
        this.log.error(`teardown failed: ${oneLine(err)}`);
      }
    });
    return this.#closing;
  }
}
