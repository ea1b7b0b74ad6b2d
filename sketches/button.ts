import { setTimeout as sleep } from 'node:timers/promises';
import {
  errors,
  openInput,
  reactive,
  Sketch,
  type Bit,
  type Edge,
  type EdgeGap,
  type HaEntity,
  type InputOptions,
  type InputPin,
  type OptionValues,
  type Outbox,
  type SketchConfig,
  type SketchError,
  type SketchStatus,
} from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import type { Bias } from '../runtime/hardware/gpio-chardev.js';
import type { GpioBackendName } from '../runtime/hardware/gpio.js';
import { VirtualInput, type EdgeDetection } from '../runtime/hardware/input.js';
import { inputOptions, pinOption } from './pin-options.js';

const options = {
  pin: { ...pinOption('BCM number of the input pin the button is wired to (17 = header pin 11)'), default: 17 },
  ...inputOptions,
  simulate: {
    type: 'number',
    min: 0.01,
    max: 86_400,
    describe: 's: no button, simulated presses this long apart on average (random), each held 100–300 ms; uses a virtual pin (default: none, the real pin)',
  },
} as const;

/** Where subscribers connect to receive every edge (and every gap). */
export const EDGES_CHANNEL = '/edges';
/** Changes (`1`/`0`) held for the `--to` peer while it is away or behind; when full, the oldest unsent go first. */
export const TO_QUEUE = 20;
/** How long a simulated press is held, in ms: drawn evenly from this range (and always longer than `--debounce`). */
export const SIMULATED_HOLD_MS = [100, 300] as const;

/** How a {@link Button} is built: a sketch's config plus, for tests and odd hardware, the input's. */
export interface ButtonConfig extends SketchConfig {
  /**
   * Passed to `openInput()`: an injected chardev `syscalls` (a fake chip), `onoff`, a
   * `sysfsRoot`, the kernel's `eventBufferSize`. Default: none (the real machine's).
   */
  inputOptions?: Pick<InputOptions, 'syscalls' | 'onoff' | 'sysfsRoot' | 'eventBufferSize'>;
}

/** One item of `/edges`: an edge that passed the edge detection and the debounce. */
export interface EdgeItem {
  /** The pin as given (`--pin` BCM number, or `--line` name). */
  pin: number | string;
  /** The logical value after the edge: 1 = pressed (active), 0 = released. */
  value: Bit;
  /** `rising` (pressed) or `falling` (released), logical. */
  edge: 'rising' | 'falling';
  /** When, in seconds since the epoch (fractional, µs): the kernel's timestamp with chardev. Also the item's stream time. */
  time: number;
  /** The edge's sequence number on this pin, from 1 (chardev: the kernel's line_seqno). */
  seqno: number;
}

/** An item of `/edges` saying edges were lost before they could be read (chardev: the kernel's buffer was full). */
export interface GapItem {
  pin: number | string;
  /** How many edges were lost, and the seqno of the first one lost (the next edge has `seqno = from + lost`). */
  gap: { lost: number; from: number };
  /** When the gap was found (the next edge's timestamp), seconds since the epoch. */
  time: number;
}

/** The input's part of the status (`GET /.well-known/sketch` → `input`). */
export interface InputStatus {
  pin: number | string;
  /** `chardev`, `sysfs` or `virtual`: the backend `--gpio auto` chose, or the one asked for. */
  backend: string;
  /** What an edge's time is: `kernel` (the interrupt's timestamp, chardev) or `read` (when the process saw it). */
  timing: 'kernel' | 'read';
  activeLow: boolean;
  edge: EdgeDetection;
  /** ms. */
  debounce: number;
  /** True with `--simulate`. */
  simulated: boolean;
  /** The current logical value; null when it cannot be read. */
  value: Bit | null;
  /** Edges published since start. */
  edges: number;
  /** Edges lost (reported as gaps) since start. */
  lost: number;
  /** Set once the pin stopped reporting edges: why. */
  error?: string;
}

/**
 * The button: a push button (or any switch) on a GPIO input. Every edge that passes the edge
 * detection (`edge`) and the debounce (`debounce` ms) is published on `/edges` as
 * `{ pin, value, edge, time, seqno }` (time in seconds since the epoch, the stream item's time
 * too) and, with `--to PEER`, sent to the peer as `1` (pressed) or `0` (released) through an
 * outbox: a button on one Pi sounds a buzzer on another. Edges lost before they were read
 * (chardev: the kernel's event buffer overflowed) are published as a gap item
 * `{ pin, gap: { lost, from }, time }` and logged as one warning: never silence.
 *
 * The defaults fit a button between the pin and GND: the internal pull-up (`bias pull-up`)
 * and `activeLow`, so that pressed is logical 1. Each edge is logged at level debug
 * (`--verbose`). Any message is answered with the current state `{ pin, value }`.
 *
 * With `simulate` (seconds) there is no button: a virtual pin is pressed at random, on average
 * that long apart (exponential waits), each press held 100–300 ms.
 *
 * If the pin stops reporting edges (an `error` event), `main()` rejects with it: `sketch run`
 * exits non-zero and a service restarts it.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` from the constructor for `simulate` with
 *   `gpio` chardev or sysfs, or with `line`.
 */
export default class Button extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'publish a GPIO button\'s edges on /edges and send 1/0 (pressed/released) --to a peer';
  static override readonly options = options;
  /** `/edges`: every edge, in order (`delivery: 'all'`); the last 1000 held for late subscribers. */
  static override readonly streams = { [EDGES_CHANNEL]: { history: 1000, delivery: 'all' } } as const;
  /**
   * With `--ha-discovery`: a binary sensor in Home Assistant, on while pressed. Gap items
   * render as an empty string, which Home Assistant ignores.
   */
  static readonly homeAssistant: readonly HaEntity[] = [
    { component: 'binary_sensor', objectId: 'button', stream: EDGES_CHANNEL, payloadOn: '1', payloadOff: '0', valueTemplate: "{{ value_json.value | default('') }}" },
  ];
  /**
   * Whether it needs the `gpio` group: unless the pin is virtual (`--gpio virtual` or
   * `--simulate`). It drives nothing, but `sketch service install` reads this to add
   * `SupplementaryGroups=gpio`, which reading `/dev/gpiochip*` or `/sys/class/gpio` needs too.
   */
  static override drivesPins(o: Record<string, unknown>): boolean {
    return o.gpio !== 'virtual' && o.simulate === undefined;
  }

  readonly #inputOptions: ButtonConfig['inputOptions'];
  #input?: InputPin;
  #outbox?: Outbox;
  #edges = 0;
  #lost = 0;
  #error?: SketchError;
  /** Rejects main() when the pin fails. */
  #fail?: (err: SketchError) => void;

  constructor(config: ButtonConfig = {}) {
    super(config);
    this.#inputOptions = config.inputOptions;
    const o = this.options;
    if (o.simulate !== undefined && o.gpio !== 'auto' && o.gpio !== 'virtual') {
      throw errors.INVALID_OPTION(`--simulate presses a virtual button: use it with --gpio virtual or auto, not --gpio ${o.gpio}`);
    }
    if (o.simulate !== undefined && o.line !== undefined) throw errors.INVALID_OPTION('--simulate presses a virtual button on --pin: drop --line');
  }

  /** The input pin (open from `setup()` until the sketch stops); a {@link VirtualInput} with `--gpio virtual` or `--simulate`. */
  get input(): InputPin | undefined {
    return this.#input;
  }

  /** The status (`GET /.well-known/sketch`) with the input under `input`: its backend, value and counts. */
  override status(): SketchStatus {
    return { ...super.status(), ...(this.#input ? { input: this.inputStatus(this.#input) } : {}) };
  }

  /** The input's backend, settings, current value and counts. */
  inputStatus(input: InputPin): InputStatus {
    let value: Bit | null = null;
    try {
      if (!input.closed) value = input.read();
    } catch {
      // reported as null; the error reply of a message says why
    }
    const o = this.options;
    const status: InputStatus = {
      pin: input.pin,
      backend: input.backend,
      timing: input.timing,
      activeLow: input.activeLow,
      edge: o.edge as EdgeDetection,
      debounce: o.debounce,
      simulated: o.simulate !== undefined,
      value,
      edges: this.#edges,
      lost: this.#lost,
    };
    if (this.#error) status.error = oneLine(this.#error);
    return status;
  }

  /**
   * Opens the input (consumer `sketchnet:<name>`) and, with `--to`, the peer's outbox.
   * @throws SketchError as `openInput()` does: `SKETCH_ERR_GPIO_BUSY`, `SKETCH_ERR_GPIO_PERMISSION`, …
   */
  override setup(o: OptionValues<typeof options>): void {
    const simulate = o.simulate !== undefined;
    const input = openInput(o.line ?? o.pin, {
      ...this.#inputOptions,
      backend: simulate ? 'virtual' : (o.gpio as GpioBackendName),
      chip: o.chip,
      bias: o.bias as Bias,
      edge: o.edge as EdgeDetection,
      debounceMs: o.debounce,
      activeLow: o.activeLow,
      consumer: `sketchnet:${this.name}`,
      log: (line) => this.out(line),
    });
    this.#input = input;
    input.on('edge', (e) => this.#edge(e));
    input.on('gap', (g) => this.#gap(g));
    input.on('error', (err) => {
      this.#error = err;
      this.log.error(`${oneLine(err)}: no more edges from GPIO ${input.pin}`);
      this.#fail?.(err);
    });
    if (this.to) this.#outbox = this.outbox(this.to, { maxItems: TO_QUEUE, batch: 1 });
    const wiring = o.activeLow ? 'active low' : 'active high';
    const bias = input.backend === 'chardev' ? `, bias ${o.bias}` : ''; // sysfs cannot set it (openInput says so), virtual has none
    const how = simulate ? `simulated, a press every ${o.simulate} s on average` : `${input.backend}, ${wiring}${bias}`;
    this.out(`button on ${typeof input.pin === 'number' ? `BCM ${input.pin}` : input.pin} (${how}; edges ${o.edge}, debounce ${o.debounce} ms)`);
  }

  /** Answers any message with the current state. */
  @reactive
  override loop(): { pin: number | string; value: Bit } {
    const input = this.#input!;
    return { pin: input.pin, value: input.read() };
  }

  /**
   * With `simulate`: presses the virtual button until the sketch is closed. Otherwise waits for
   * the close. Rejects when the pin stops reporting edges.
   */
  override async main(): Promise<void> {
    const input = this.#input;
    if (!input || this.signal.aborted) return;
    if (this.#error) throw this.#error;
    const stopped = new Promise<void>((resolve, reject) => {
      this.#fail = reject;
      this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const simulation = input instanceof VirtualInput && this.options.simulate !== undefined ? this.#simulate(input, this.options.simulate) : undefined;
    try {
      await stopped;
    } finally {
      this.#fail = undefined;
      await simulation;
    }
  }

  override teardown(): void {
    this.#input?.close();
  }

  #edge(e: Edge): void {
    this.#edges++;
    const time = e.time / 1000; // the stream's times are in seconds
    const item: EdgeItem = { pin: e.pin, value: e.value, edge: e.edge, time, seqno: e.seqno };
    this.log.debug(`${e.value ? 'pressed' : 'released'} (edge ${e.seqno})`);
    this.publish(EDGES_CHANNEL, item, { time });
    this.#outbox?.push(String(e.value));
  }

  #gap(g: EdgeGap): void {
    this.#lost += g.lost;
    const time = g.time / 1000;
    const item: GapItem = { pin: g.pin, gap: { lost: g.lost, from: g.from }, time };
    const last = g.from + g.lost - 1;
    this.log.warn(`GPIO ${g.pin}: ${g.lost} edge(s) lost (seqno ${g.lost > 1 ? `${g.from}…${last}` : g.from}) before they could be read; published as a gap on ${EDGES_CHANNEL}`);
    this.publish(EDGES_CHANNEL, item, { time });
  }

  /**
   * Presses `input` at random until the sketch closes: exponential waits of mean `seconds`
   * between presses, each held 100–300 ms. Both stay longer than the debounce, so that no
   * simulated press is filtered out.
   */
  async #simulate(input: VirtualInput, seconds: number): Promise<void> {
    const floor = this.options.debounce + 10;
    const [shortest, longest] = SIMULATED_HOLD_MS;
    try {
      for (;;) {
        await sleep(Math.max(floor, -Math.log(1 - Math.random()) * seconds * 1000), undefined, { signal: this.signal });
        if (input.closed) return;
        input.set(1);
        await sleep(Math.max(floor, shortest + Math.random() * (longest - shortest)), undefined, { signal: this.signal });
        if (input.closed) return;
        input.set(0);
      }
    } catch {
      // closed while waiting: a normal end
    }
  }
}
