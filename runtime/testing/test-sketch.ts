/**
 * One sketch under test: `testSketch(Thermostat, { options: { limit: 25 } })` builds it with
 * virtual pins, the bench's in-memory discovery and network and its fake clock, runs `setup()`,
 * serves it in memory (no port unless `listen`), waits for its announcement and starts `main()`,
 * as `sketch run` would. The sketch runs its own code: only time, pins and the network are
 * swapped.
 */
import { errors, oneLine } from '../errors.js';
import type { Discovery } from '../discovery/mdns.js';
import type { VirtualPin } from '../hardware/gpio.js';
import type { VirtualInput } from '../hardware/input.js';
import { inPinScope, type PinScope } from '../hardware/pin-scope.js';
import { Peer } from '../net/peer.js';
import { IN_MEMORY, type SketchServer } from '../net/sketch-server.js';
import type { Sketch } from '../sketch.js';
import type { ListenOptions, SketchAddress, SketchConfig } from '../sketch-config.js';
import { acquireBench, releaseBench, type Bench } from './bench.js';
import type { Runner } from './memory-socket.js';

/** What {@link testSketch} takes besides the class: a `SketchConfig` (less `discovery`) and the kit's own fields. */
export interface TestSketchOptions extends Omit<SketchConfig, 'discovery'> {
  /**
   * Open a real port: `true` (127.0.0.1, any free port) or where, as `run()` takes it. The sketch
   * then runs through the real `run()`; its clients, the kit's own included, connect over TCP.
   * Default false: nothing is opened, the sketch is served in memory only.
   */
  listen?: boolean | ListenOptions;
  /**
   * Where the fake clock starts, as ms since the epoch or a Date, for the first sketch under test
   * of the process (the clock is shared: refused while another is open). Default: the real now.
   * Another time is a step of the wall clock, which streams note (`wall clock stepped …`).
   */
  now?: number | Date;
  /** Run `main()` (when the sketch has one) once it is announced, as `sketch run` does. Default true. */
  main?: boolean;
}

/** Options of {@link TestSketch.send}. */
export interface SendOptions {
  /** The channel (request path, with a query if wanted) to send on. Default `/`. */
  channel?: string;
  /**
   * The key the kit's client presents (`Authorization: Bearer KEY`), for a sketch built with
   * `keys`: without one such a sketch refuses it (`SKETCH_ERR_UNAUTHORIZED`); with a `read` key
   * each message gets an error reply (rejects with `SKETCH_ERR_REMOTE`, `remoteCode`
   * `SKETCH_ERR_FORBIDDEN`). Default none.
   */
  key?: string;
}

/** One item of a stream, as {@link TestSketch.published} gives it. Times in seconds since the epoch. */
export interface PublishedItem {
  /** 1, 2, 3… within the stream's epoch. */
  seq: number;
  /** When the sample was taken (the producer's `time`, else when published), s. */
  time: number;
  /** When the runtime published it, s. */
  published: number;
  /** The data as published (a string as it is; anything else as its JSON value). */
  data: unknown;
}

/** A sketch under test: what {@link testSketch} resolves with. */
export interface TestSketch<S extends Sketch = Sketch> {
  /** The instance, set up and served. */
  readonly sketch: S;
  /** Its instance name (as announced). */
  readonly name: string;
  /**
   * Every line it logged, in order, as `[ Label ] text` without time (virtual pins' `pin N -> V`
   * lines among them): nothing goes to stdout.
   */
  readonly log: readonly string[];
  /**
   * Its `main()`: resolves or rejects as that does (it rejects with `SKETCH_ERR_CLOSED` when
   * closed while it ran, e.g. the clock's); resolves at once without one, or with `main: false`.
   * A rejection nobody awaits is no unhandled rejection.
   */
  readonly main: Promise<void>;
  /** Where it listens, with `listen`; undefined otherwise. */
  readonly address: SketchAddress | undefined;
  /**
   * Sends one message as a peer does (`sketchnet.v3`, through the per-connection handler a real
   * client reaches; strings as they are, anything else as JSON) and resolves with the
   * acknowledgement exactly as a peer gets it: `'{"fan":true}'`, `'n/a'` for nothing. Messages on
   * one channel are handled in order, as on one connection. A `loop` that waits on timers answers
   * once the clock is advanced that far.
   * @throws SketchError `SKETCH_ERR_REMOTE` for an error reply (its `remoteCode` the sketch's code,
   *   e.g. `SKETCH_ERR_LOOP` or `SKETCH_ERR_BAD_MESSAGE`); `SKETCH_ERR_PEER_UNREACHABLE` when the
   *   connection is refused or dropped (a bad stream query: 400); `SKETCH_ERR_CLOSED` once closed.
   */
  send(message: unknown, options?: SendOptions): Promise<string>;
  /**
   * The items the sketch published on the stream at `path`, oldest first, as far as the stream's
   * history holds them (1000 items by default); none when there is no such stream.
   */
  published(path: string): PublishedItem[];
  /**
   * The virtual output pin the sketch opened as `pin` (BCM number, or line name as given): its
   * `value`, its `transitions` (`{ value, level, time }`, time in ms since the epoch) and `read()`.
   * The one opened last when it was opened more than once; still there once closed.
   * @throws Error when the sketch opened no output pin `pin` (the message lists those it opened).
   */
  pin(pin: number | string): VirtualPin;
  /**
   * The virtual input pin the sketch opened as `pin`: `set(1)` changes its level as a wire would
   * (edges follow its edge detection and debounce, on the fake clock).
   * @throws Error when the sketch opened no input pin `pin`.
   */
  input(pin: number | string): VirtualInput;
  /**
   * Moves the fake clock `ms` forward (every sketch under test shares it): every timer due on the
   * way fires in order — `setTimeout`, `setInterval`, `sleep` of `node:timers/promises` — and
   * what each starts (messages between sketches included) runs before the next; `Date.now()` and
   * `performance.now()` move by `ms`. A clock sketch's ticks happen without waiting.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for `ms` that is not a finite number ≥ 0.
   */
  advance(ms: number): Promise<void>;
  /**
   * Closes the sketch (`close()`: `teardown()`, clients and peers closed, its name withdrawn);
   * the last sketch under test closed puts the real timers back. Safe to call twice.
   */
  close(): Promise<void>;
}

/** The class of a sketch under test: any `Sketch` subclass, whose config may add fields (`ButtonConfig`). */
export type TestedClass<S extends Sketch, C extends SketchConfig> = new (config: C) => S;

/**
 * Runs a sketch under test (see {@link TestSketch}): with virtual pins (`gpio: 'virtual'` when
 * the class has that option; every pin it opens is virtual in any case), in-memory discovery
 * and connections, and the fake clock; no port is opened unless `listen`. Several sketches under
 * test at once find each other by name: `stream('buzzer', …)` from one reaches the other.
 * @param options a `SketchConfig` (its `options`, `name`, `to`, `peer`, `keys`…; `log` gets each
 *   line too) and the kit's `listen`, `now`, `main`.
 * @throws SketchError as the constructor, `setup()` and `run()` do (`SKETCH_ERR_INVALID_OPTION`…);
 *   nothing stays open then.
 */
export async function testSketch<S extends Sketch, C extends SketchConfig = SketchConfig>(
  cls: TestedClass<S, C>,
  options?: TestSketchOptions & Omit<C, 'discovery'>,
): Promise<TestSketch<S>> {
  const { listen = false, now, main = true, ...config } = (options ?? {}) as TestSketchOptions;
  const bench = acquireBench(now instanceof Date ? now.getTime() : now);
  const log: string[] = [];
  const pins: Array<VirtualPin | VirtualInput> = [];
  let server: SketchServer | undefined;
  let sketch: S | undefined;
  // a pin opened with no `log` logs as the sketch does: `[ Blink ] pin 18 -> 1`
  const scope: PinScope = { opened: (pin) => pins.push(pin), log: (line) => (sketch ? sketch.out(line) : log.push(line)) };
  const run: Runner = (fn) => inPinScope(scope, fn);
  let stopServing = () => {};
  try {
    const schema = (cls as { options?: Record<string, unknown> }).options ?? {};
    const built = {
      ...config,
      options: 'gpio' in schema ? { ...config.options, gpio: 'virtual' } : config.options,
      discovery: bench.network.discovery,
      log: (line: string) => {
        log.push(line);
        config.log?.(line);
      },
      peer: { ...config.peer, createSocket: bench.network.createSocket(run) },
      [IN_MEMORY]: (s: SketchServer) => (server = s),
    } as unknown as C;
    const s = run(() => new cls(built));
    sketch = s;
    if (listen) {
      await run(() => s.run(listen === true ? { host: '127.0.0.1' } : listen));
    } else {
      await run(() => s.setup(s.options));
      if (!server) throw new Error('testSketch(): the sketch made no server (a Sketch subclass must pass its config to super())');
      const port = bench.network.port();
      stopServing = bench.network.serve(port, server.serveInMemory(port), run);
    }
    await s.announced;
  } catch (err) {
    stopServing();
    await sketch?.close().catch(() => {});
    releaseBench(bench);
    throw err;
  }
  return new SketchUnderTest(sketch, { bench, log, pins, run, main, stopServing });
}

/** What a {@link SketchUnderTest} is handed by {@link testSketch}. */
interface Parts {
  bench: Bench;
  log: string[];
  pins: Array<VirtualPin | VirtualInput>;
  run: Runner;
  main: boolean;
  stopServing: () => void;
}

/** See {@link TestSketch}. */
class SketchUnderTest<S extends Sketch> implements TestSketch<S> {
  readonly sketch: S;
  readonly log: readonly string[];
  readonly main: Promise<void>;
  readonly #parts: Parts;
  /** The kit's own client, one per channel. */
  readonly #peers = new Map<string, Peer>();
  #closing?: Promise<void>;

  constructor(sketch: S, parts: Parts) {
    this.sketch = sketch;
    this.log = parts.log;
    this.#parts = parts;
    const main = parts.main && sketch.main ? parts.run(() => sketch.main!()) : Promise.resolve();
    main.catch((err) => parts.log.push(`main() ended: ${oneLine(err)}`));
    this.main = main;
  }

  get name(): string {
    return this.sketch.name;
  }

  get address(): SketchAddress | undefined {
    return this.sketch.address;
  }

  send(message: unknown, options: SendOptions = {}): Promise<string> {
    if (this.#closing) return Promise.reject(errors.CLOSED(`sketch under test "${this.name}"`));
    const channel = options.channel ?? '/';
    if (typeof channel !== 'string' || !channel.startsWith('/')) return Promise.reject(errors.INVALID_OPTION(`send(): channel must start with "/", got ${JSON.stringify(channel)}`));
    const which = `${channel}\0${options.key ?? ''}`; // one client per channel and key
    let peer = this.#peers.get(which);
    if (!peer) {
      peer = new Peer(this.name, {
        ...(options.key === undefined ? {} : { key: options.key, insecureKey: true }), // in memory (or loopback): no wire to protect
        discovery: onChannel(this.#parts.bench.network.discovery, channel),
        createSocket: this.#parts.bench.network.createSocket(),
        from: () => 'test',
        retries: 0,
        heartbeat: 0,
        ackTimeout: 0,
      });
      this.#peers.set(which, peer);
    }
    return peer.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  published(path: string): PublishedItem[] {
    const history = this.sketch.streamAt(path)?.history;
    if (!history) return [];
    const items: PublishedItem[] = [];
    for (let seq = history.firstSeq; seq <= history.lastSeq; seq++) {
      const item = history.get(seq);
      if (item) items.push({ seq, time: item.time, published: item.published, data: JSON.parse(item.json) as unknown });
    }
    return items;
  }

  pin(pin: number | string): VirtualPin {
    return this.#find(pin, 'output') as VirtualPin;
  }

  input(pin: number | string): VirtualInput {
    return this.#find(pin, 'input') as VirtualInput;
  }

  advance(ms: number): Promise<void> {
    if (this.#closing) return Promise.reject(errors.CLOSED(`sketch under test "${this.name}"`));
    return this.#parts.bench.clock.advance(ms);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await Promise.allSettled([...this.#peers.values()].map((p) => p.close()));
        await this.sketch.close();
      } finally {
        this.#parts.stopServing();
        releaseBench(this.#parts.bench);
      }
    })();
    return this.#closing;
  }

  #find(pin: number | string, kind: 'output' | 'input'): VirtualPin | VirtualInput {
    const isInput = (p: VirtualPin | VirtualInput) => 'set' in p;
    const mine = this.#parts.pins.filter((p) => isInput(p) === (kind === 'input'));
    const found = mine.filter((p) => String(p.pin) === String(pin)).at(-1);
    if (found) return found;
    const opened = mine.length ? mine.map((p) => p.pin).join(', ') : 'none';
    throw new Error(`sketch "${this.name}" opened no ${kind} pin ${pin} (${kind} pins it opened: ${opened})`);
  }
}

/** `discovery`, with every name resolved to its URL on `channel` (the kit's client for that channel). */
function onChannel(discovery: Discovery, channel: string): Discovery {
  if (channel === '/') return discovery;
  return {
    announce: (request) => discovery.announce(request),
    resolve: async (name, timeout, signal) => {
      const found = await discovery.resolve(name, timeout, signal);
      return { ...found, url: new URL(channel, found.url).href };
    },
    browse: (timeout) => discovery.browse(timeout),
    close: async () => {},
  };
}
