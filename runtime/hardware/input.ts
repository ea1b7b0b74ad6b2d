/**
 * Digital input pins with edge events, on the three GPIO backends ({@link openInput}):
 *
 * - `chardev`: the line is requested with edge detection (`GPIO_V2_LINE_FLAG_EDGE_*`), the
 *   kernel's debounce (`GPIO_V2_LINE_ATTR_ID_DEBOUNCE`) and event timestamps from
 *   CLOCK_REALTIME (`GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME`): an edge's `time` is when the
 *   interrupt happened, not when this process read it. The kernel's per-line sequence number
 *   reveals edges lost to a full kernel buffer: they are reported as a `gap` event.
 *   Source: `Documentation/userspace-api/gpio/gpio-v2-line-event-read.rst`.
 * - `sysfs`: onoff's `watch()` (poll(2) on the `value` file) with its own debounce; `time` is
 *   when onoff read the value, so it is coarser (event-loop latency) and bias cannot be set.
 * - `virtual`: levels set with {@link VirtualInput.set} (tests, demos, `--simulate`).
 *
 * See docs/API.md (GPIO, Inputs).
 */
import { EventEmitter } from 'node:events';
import { errors, oneLine, SketchError } from '../errors.js';
import { biasFlags, lineError, readEdges, requestLine, getValues, type Bias, type FoundChip, type HeldLines, type KernelEdge } from './gpio-chardev.js';
import { checkDriveAndBias, checkPinNumber, resolveSysfsNumber, selectBackend, type Bit, type BackendOptions, type ChosenBackend, type GpioBackend, type GpioBackendName, type OnoffClass } from './gpio.js';
import { currentPinScope } from './pin-scope.js';
import { LineFlag, SIZE, type GpioSyscalls } from './gpio-uapi.js';

/** Every {@link EdgeDetection}, for option checks and CLI choices. */
export const EDGE_DETECTIONS = ['both', 'rising', 'falling'] as const;
/** Which edges are reported. */
export type EdgeDetection = (typeof EDGE_DETECTIONS)[number];

/** Longest debounce accepted, in ms. */
export const MAX_DEBOUNCE_MS = 1000;
/** Most edge events the kernel may buffer for one chardev input (`event_buffer_size`). */
export const MAX_EVENT_BUFFER = 1024;

/** One edge of an input. */
export interface Edge {
  /** The pin as it was opened (BCM number, line offset or line name). */
  pin: number | string;
  /** The logical value after the edge: 1 after a rising edge, 0 after a falling one (active-low inverts). */
  value: Bit;
  /** `rising` (to 1) or `falling` (to 0), logical. */
  edge: 'rising' | 'falling';
  /**
   * When, in ms since the epoch (fractional: µs precision). chardev: the kernel's timestamp of
   * the interrupt (CLOCK_REALTIME); sysfs and virtual: when the process saw it.
   */
  time: number;
  /** Sequence number of this edge on this pin, from 1 (chardev: the kernel's `line_seqno`). */
  seqno: number;
}

/** Edges lost before this process read them (chardev: the kernel's buffer was full). */
export interface EdgeGap {
  /** The pin as it was opened. */
  pin: number | string;
  /** How many edges were lost. */
  lost: number;
  /** The seqno of the first edge lost; the edge after the gap has `seqno = from + lost`. */
  from: number;
  /** When the gap was found, ms since the epoch (the timestamp of the edge after it). */
  time: number;
}

/** Events of an {@link InputPin}. */
export interface InputEvents {
  /** An edge passed the edge detection and debounce. */
  edge: [Edge];
  /** Edges were lost (chardev only). */
  gap: [EdgeGap];
  /** Reading events failed (the pin stops reporting edges; `read()` may still work). */
  error: [SketchError];
}

/** A digital input. Emits `edge`, `gap` and `error` ({@link InputEvents}). */
export interface InputPin extends EventEmitter<InputEvents> {
  /** The pin as it was opened. */
  readonly pin: number | string;
  /** The backend that reads it. */
  readonly backend: GpioBackend;
  /** Active is the low level (a button to GND with a pull-up). */
  readonly activeLow: boolean;
  /** What `time` of an edge is: `kernel` (the interrupt's timestamp) or `read` (when the process saw it). */
  readonly timing: 'kernel' | 'read';
  /** True once `close()` ran. */
  readonly closed: boolean;
  /**
   * The current logical value (1 = active).
   * @throws SketchError `SKETCH_ERR_CLOSED` after `close()`, `SKETCH_ERR_GPIO_REQUEST` (chardev)
   *   or `SKETCH_ERR_GPIO_EXPORT` (sysfs) when the read fails.
   */
  read(): Bit;
  /** Stops edge events and releases the line (chardev: closes the request; sysfs: unexports). Safe to call twice. */
  close(): void;
}

/** Options of {@link openInput}. */
export interface InputOptions extends BackendOptions {
  /** Default `auto` (see {@link GpioBackendName}). */
  backend?: GpioBackendName;
  /** Pull resistors. chardev only (sysfs cannot set them: one line is logged). Default `as-is`. */
  bias?: Bias;
  /** Which edges are reported. Default `both`. */
  edge?: EdgeDetection;
  /**
   * A level must hold this long, in ms, before its edge is reported (0 to {@link MAX_DEBOUNCE_MS}).
   * chardev: done by the kernel; sysfs: onoff's `debounceTimeout`; virtual: a timer. Default 0.
   */
  debounceMs?: number;
  /** Active is the low level. Default false. */
  activeLow?: boolean;
  /** chardev: the consumer label `gpioinfo` shows. Default `sketchnet`. */
  consumer?: string;
  /** chardev: edge events the kernel buffers (1 to {@link MAX_EVENT_BUFFER}); 0 = the kernel's default, 16. Default 0. */
  eventBufferSize?: number;
  /** Where the backend line and notices go. Default `console.log`. */
  log?: (line: string) => void;
}

/** What the input backends share: events, closed state, the edge filter. */
abstract class BaseInput extends EventEmitter<InputEvents> implements InputPin {
  abstract readonly backend: GpioBackend;
  abstract readonly timing: 'kernel' | 'read';
  #closed = false;

  constructor(
    readonly pin: number | string,
    readonly activeLow: boolean,
    protected readonly detect: EdgeDetection,
  ) {
    super();
  }

  get closed(): boolean {
    return this.#closed;
  }

  read(): Bit {
    if (this.#closed) throw errors.CLOSED(`GPIO ${this.pin}`);
    return this.sense();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.free();
  }

  protected abstract sense(): Bit;
  protected abstract free(): void;

  /** Whether an edge to `value` passes the edge detection. */
  protected wanted(value: Bit): boolean {
    return this.detect === 'both' || (this.detect === 'rising') === (value === 1);
  }

  protected emitEdge(value: Bit, time: number, seqno: number): void {
    this.emit('edge', { pin: this.pin, value, edge: value ? 'rising' : 'falling', time, seqno });
  }
}

/**
 * An input in memory: {@link set} changes its level as a wire would, and edges follow the
 * edge detection and debounce like a real line's. For tests, demos and `--simulate`.
 */
export class VirtualInput extends BaseInput {
  readonly backend = 'virtual';
  readonly timing = 'read';
  readonly #debounceMs: number;
  #level: Bit = 0;
  #reported: Bit = 0;
  #seqno = 0;
  #pending?: NodeJS.Timeout;

  /** @param options.activeLow default false; edge default `both`; debounceMs default 0. */
  constructor(pin: number | string, options: { activeLow?: boolean; edge?: EdgeDetection; debounceMs?: number } = {}) {
    super(pin, options.activeLow ?? false, options.edge ?? 'both');
    this.#debounceMs = options.debounceMs ?? 0;
  }

  /**
   * Sets the logical value (1 = active) as the outside world would. A change is reported as an
   * edge (if the edge detection wants it) at once, or once it held for `debounceMs`.
   * @param time when it changed, ms since the epoch. Default `Date.now()`.
   * @throws SketchError `SKETCH_ERR_CLOSED` after `close()`.
   */
  set(value: Bit, time = Date.now()): void {
    if (this.closed) throw errors.CLOSED(`GPIO ${this.pin}`);
    this.#level = value;
    if (this.#debounceMs === 0) return this.#report(time);
    clearTimeout(this.#pending);
    this.#pending = setTimeout(() => this.#report(time + this.#debounceMs), this.#debounceMs);
  }

  #report(time: number): void {
    if (this.#level === this.#reported || this.closed) return;
    this.#reported = this.#level;
    if (!this.wanted(this.#level)) return;
    this.emitEdge(this.#level, time, ++this.#seqno);
  }

  protected sense(): Bit {
    return this.#level;
  }

  protected free(): void {
    clearTimeout(this.#pending);
  }
}

/** An input line requested through the GPIO character device. */
class ChardevInput extends BaseInput {
  readonly backend = 'chardev';
  readonly timing = 'kernel';
  readonly #sys: GpioSyscalls;
  readonly #held: HeldLines;
  readonly #stop = new AbortController();
  readonly #values = new Uint8Array(SIZE.gpio_v2_line_values);
  #lastSeqno = 0;

  constructor(pin: number | string, sys: GpioSyscalls, chip: FoundChip, options: InputOptions) {
    super(pin, options.activeLow ?? false, options.edge ?? 'both');
    this.#sys = sys;
    const edges = this.detect === 'both' ? LineFlag.EDGE_RISING | LineFlag.EDGE_FALLING : this.detect === 'rising' ? LineFlag.EDGE_RISING : LineFlag.EDGE_FALLING;
    const flags = LineFlag.INPUT | edges | LineFlag.EVENT_CLOCK_REALTIME | biasFlags(options.bias) | (this.activeLow ? LineFlag.ACTIVE_LOW : 0);
    this.#held = requestLine(sys, chip, pin, { flags, debounceUs: Math.round((options.debounceMs ?? 0) * 1000) }, options.consumer, options.eventBufferSize ?? 0);
    void readEdges(
      sys,
      this.#held.fd,
      this.#stop.signal,
      (edges) => this.#events(edges),
      (err) => this.emit('error', lineError(this.pin, 'reading edge events', err)),
    );
  }

  /** Where the line is: `/dev/gpiochip0 line 17 (pinctrl-rp1)`. */
  get where(): string {
    return `${this.#held.chip.path} line ${this.#held.offsets[0]} (${this.#held.chip.label})`;
  }

  #events(edges: KernelEdge[]): void {
    for (const e of edges) {
      if (this.closed) return;
      const from = this.#lastSeqno + 1;
      if (e.lineSeqno > from) this.emit('gap', { pin: this.pin, lost: e.lineSeqno - from, from, time: e.time });
      this.#lastSeqno = e.lineSeqno;
      this.emitEdge(e.value, e.time, e.lineSeqno);
    }
  }

  protected sense(): Bit {
    try {
      return getValues(this.#sys, this.#held.fd, this.#values, 1n) & 1n ? 1 : 0; // logical: the line is requested active-low
    } catch (err) {
      throw lineError(this.pin, `reading ${this.where}`, err);
    }
  }

  protected free(): void {
    this.#stop.abort();
    this.#sys.close(this.#held.fd);
  }
}

/** The part of an onoff `Gpio` an input uses. */
interface OnoffInputGpio {
  readSync(): Bit;
  watch(callback: (err: Error | null | undefined, value: Bit) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

/** An input read through onoff and `/sys/class/gpio/gpioN/value`. */
class SysfsInput extends BaseInput {
  readonly backend = 'sysfs';
  readonly timing = 'read';
  readonly #gpio: OnoffInputGpio;
  #seqno = 0;

  constructor(pin: number, sysfs: number, onoff: OnoffClass, options: InputOptions) {
    super(pin, options.activeLow ?? false, options.edge ?? 'both');
    const Gpio = onoff as unknown as new (n: number, direction: 'in', edge: EdgeDetection, o: { activeLow: boolean; debounceTimeout: number }) => OnoffInputGpio;
    try {
      this.#gpio = new Gpio(sysfs, 'in', this.detect, { activeLow: this.activeLow, debounceTimeout: options.debounceMs ?? 0 });
    } catch (err) {
      throw errors.GPIO_EXPORT(pin, `sysfs ${sysfs}: ${oneLine(err)}`, err);
    }
    this.#gpio.watch((err, value) => {
      if (this.closed) return;
      if (err) return void this.emit('error', errors.GPIO_EXPORT(pin, `watching sysfs ${sysfs} failed: ${oneLine(err)}`, err));
      this.emitEdge(value, Date.now(), ++this.#seqno);
    });
  }

  protected sense(): Bit {
    try {
      return this.#gpio.readSync();
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `reading failed: ${oneLine(err)}`, err);
    }
  }

  protected free(): void {
    this.#gpio.unwatchAll();
    this.#gpio.unexport();
  }
}

/**
 * Opens `pin` as a digital input with edge events. On a Raspberry Pi the pin is a BCM number;
 * on chardev it may also be a line offset on `chip`, or a line name (`GPIO17`).
 *
 * Backends as for outputs ({@link selectBackend}): `auto` is chardev when a Raspberry Pi chip
 * (or `chip`) can be opened, else sysfs through onoff, else virtual (a {@link VirtualInput}),
 * with one log line saying which and why. In a pin scope (./pin-scope.ts: a sketch under the
 * test kit) it is a {@link VirtualInput} whatever `backend` says, handed to the scope.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for a bad edge, bias, backend, a
 *   `debounceMs` outside 0 … 1000 or an `eventBufferSize` outside 0 … 1024;
 *   `SKETCH_ERR_GPIO_PIN_RANGE`, `SKETCH_ERR_GPIO_CHIP`, `SKETCH_ERR_GPIO_BUSY` (naming the
 *   holder), `SKETCH_ERR_GPIO_PERMISSION`, `SKETCH_ERR_GPIO_REQUEST`,
 *   `SKETCH_ERR_GPIO_UNAVAILABLE` and `SKETCH_ERR_GPIO_EXPORT` as for outputs.
 */
export function openInput(pin: number | string, options: InputOptions = {}): InputPin {
  const log = options.log ?? ((line: string) => console.log(line));
  const { edge = 'both', debounceMs = 0, eventBufferSize = 0 } = options;
  if (!(EDGE_DETECTIONS as readonly string[]).includes(edge)) throw errors.INVALID_OPTION(`--edge must be one of rising, falling, both, got ${JSON.stringify(edge)}`);
  if (typeof debounceMs !== 'number' || !Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > MAX_DEBOUNCE_MS) {
    throw errors.INVALID_OPTION(`--debounce must be from 0 to ${MAX_DEBOUNCE_MS} (ms), got ${String(debounceMs)}`);
  }
  if (!Number.isInteger(eventBufferSize) || eventBufferSize < 0 || eventBufferSize > MAX_EVENT_BUFFER) {
    throw errors.INVALID_OPTION(`eventBufferSize must be a whole number from 0 to ${MAX_EVENT_BUFFER} (events), got ${String(eventBufferSize)}`);
  }
  checkDriveAndBias(options);
  const scope = currentPinScope(); // the test kit's: every pin virtual, handed to it (./pin-scope.ts)
  const chosen: ChosenBackend = scope ? { backend: 'virtual' } : selectBackend(pin, options, log);
  if (chosen.backend === 'virtual') {
    const virtual = new VirtualInput(checkPinNumber(pin), options);
    scope?.opened(virtual);
    return virtual;
  }
  if (chosen.backend === 'chardev') return new ChardevInput(pin, chosen.syscalls, chosen.chip, options);
  if (options.bias && options.bias !== 'as-is') {
    log(`gpio: sysfs cannot set the bias of GPIO ${pin}: it keeps what the firmware set (e.g. "gpio=${pin}=ip,pu" in config.txt), or use --gpio chardev`);
  }
  const bcm = checkPinNumber(pin);
  return new SysfsInput(bcm, resolveSysfsNumber(bcm, chosen.sysfsRoot), chosen.onoff, options);
}
