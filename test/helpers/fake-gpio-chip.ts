/**
 * A fake GPIO character device behind the {@link GpioSyscalls} seam: it decodes the very bytes
 * the chardev backend encodes (runtime/hardware/gpio-uapi.ts) and answers as the kernel does,
 * following the rules of gpio-sim (Documentation/admin-guide/gpio/gpio-sim.rst) and of
 * drivers/gpio/gpiolib-cdev.c:
 *
 * - a request of a line that is held (by anyone) fails with EBUSY; offsets past the chip, no
 *   lines, more than 64, non-zero padding or contradictory flags fail with EINVAL;
 * - closing a request's fd releases its lines: an output goes back to input and its level
 *   follows its pull (upstream), or — with `persistOutputs`, as Raspberry Pi kernels do
 *   (raspberrypi/linux#6117) — keeps being driven at its last level;
 * - SET_VALUES on an input line fails with EPERM;
 * - the outside world drives an input with {@link FakeGpioChip.drive} (gpio-sim's `pull`):
 *   edges become `gpio_v2_line_event`s with CLOCK_REALTIME (or monotonic) timestamps, a
 *   request-wide `seqno` and a per-line `line_seqno`, after the debounce period when one is
 *   set; the kernel's event buffer (`event_buffer_size`, default 16 per line) drops its
 *   oldest event when full, so the reader sees a seqno jump.
 * No side effects on import.
 */
import {
  decodeLineConfig,
  decodeLineRequest,
  decodeLineValues,
  encodeChipInfo,
  encodeLineEvent,
  encodeLineInfo,
  encodeLineValues,
  GPIO_V2_LINES_MAX,
  IOCTL,
  LineEventId,
  LineFlag,
  OFFSET,
  SIZE,
  setRequestFd,
  type GpioSyscalls,
  type LineEvent,
  type LineSettings,
} from '../../runtime/hardware/gpio-uapi.js';

type Bit = 0 | 1;

/** One chip of the fake. */
export interface FakeChipSpec {
  /** Device path. Default `/dev/gpiochipN` by position. */
  path?: string;
  /** Label, e.g. `pinctrl-rp1`. */
  label: string;
  /** Number of lines. Default 54. */
  lines?: number;
  /** Line names by offset. Default `GPIO0`, `GPIO1`, …. */
  names?: string[];
}

/** Options of {@link FakeGpioChip}. */
export interface FakeGpioOptions {
  /** The chips. Default: one Raspberry Pi 5 chip, `/dev/gpiochip0`, `pinctrl-rp1`, 54 lines. */
  chips?: FakeChipSpec[];
  /** Outputs keep their level after release (Raspberry Pi kernels). Default false (upstream). */
  persistOutputs?: boolean;
  /** An errno name every open(2) fails with (`EACCES`). Default: none. */
  openError?: string;
}

interface Line {
  name: string;
  /** The request holding it, or an external holder's consumer. */
  request?: Request;
  externalConsumer?: string;
  settings?: LineSettings;
  /** Physical level driven by an output (held, or persisting after release). */
  driven?: Bit;
  /** Physical level the outside world drives on it; undefined = floating (follows the bias). */
  outside?: Bit;
  /** Last bias set, kept after release (as the pin controller keeps it). */
  bias: number;
  /** Debounce state: the level last reported, and the timer waiting for the level to hold. */
  reported?: Bit;
  timer?: NodeJS.Timeout;
}

interface Chip {
  path: string;
  label: string;
  name: string;
  lines: Line[];
}

interface Request {
  fd: number;
  chip: Chip;
  offsets: number[];
  consumer: string;
  capacity: number;
  events: LineEvent[];
  seqno: number;
  lineSeqno: number[];
  waiters: Set<() => void>;
  closed: boolean;
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${syscall} failed (fake chip)`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

const hasBit = (flags: number, bit: number) => (flags & bit) !== 0;

/** Kernel rule (gpiolib-cdev.c gpio_v2_line_flags_validate): which flag sets are refused with EINVAL. */
function flagsValid(flags: number): boolean {
  const input = hasBit(flags, LineFlag.INPUT);
  const output = hasBit(flags, LineFlag.OUTPUT);
  if (input && output) return false;
  const edges = hasBit(flags, LineFlag.EDGE_RISING) || hasBit(flags, LineFlag.EDGE_FALLING);
  if (edges && !input) return false;
  if (hasBit(flags, LineFlag.EVENT_CLOCK_REALTIME) && hasBit(flags, LineFlag.EVENT_CLOCK_HTE)) return false;
  const drive = hasBit(flags, LineFlag.OPEN_DRAIN) || hasBit(flags, LineFlag.OPEN_SOURCE);
  if (drive && !output) return false;
  if (hasBit(flags, LineFlag.OPEN_DRAIN) && hasBit(flags, LineFlag.OPEN_SOURCE)) return false;
  const biases = [LineFlag.BIAS_PULL_UP, LineFlag.BIAS_PULL_DOWN, LineFlag.BIAS_DISABLED].filter((b) => hasBit(flags, b)).length;
  if (biases > 1) return false;
  if (biases && !input && !output) return false;
  return true;
}

const BIAS_MASK = LineFlag.BIAS_PULL_UP | LineFlag.BIAS_PULL_DOWN | LineFlag.BIAS_DISABLED;

/** The fake kernel: pass it as `syscalls` to openOutput/openInput. */
export class FakeGpioChip implements GpioSyscalls {
  /** Every ioctl, as `GET_LINE 17 consumer=sketchnet:button`, `SET_VALUES fd=1001 bits=1 mask=1`… */
  readonly calls: string[] = [];
  readonly #chips: Chip[];
  readonly #fds = new Map<number, Chip | Request>();
  readonly #options: FakeGpioOptions;
  #nextFd = 1000;
  /** CLOCK_REALTIME in ns = this + hrtime. */
  readonly #realtimeBase = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  constructor(options: FakeGpioOptions = {}) {
    this.#options = options;
    const specs = options.chips ?? [{ label: 'pinctrl-rp1' }];
    this.#chips = specs.map((spec, i) => {
      const lines = spec.lines ?? 54;
      return {
        path: spec.path ?? `/dev/gpiochip${i}`,
        name: (spec.path ?? `/dev/gpiochip${i}`).split('/').pop()!,
        label: spec.label,
        lines: Array.from({ length: lines }, (_, o) => ({ name: spec.names?.[o] ?? `GPIO${o}`, bias: 0 })),
      };
    });
  }

  // --- the seam ------------------------------------------------------------------------------

  chips(): string[] {
    return this.#chips.map((c) => c.path);
  }

  open(path: string): number {
    if (this.#options.openError) throw errno(this.#options.openError, 'open');
    const chip = this.#chips.find((c) => c.path === path);
    if (!chip) throw errno('ENOENT', 'open');
    const fd = this.#nextFd++;
    this.#fds.set(fd, chip);
    return fd;
  }

  ioctl(fd: number, request: number, arg: Uint8Array): void {
    const target = this.#fds.get(fd);
    if (!target) throw errno('EBADF', 'ioctl');
    if ('label' in target) return this.#chipIoctl(target, request, arg);
    return this.#requestIoctl(target, request, arg);
  }

  async readEvents(fd: number, buf: Uint8Array, signal: AbortSignal): Promise<number> {
    const req = this.#fds.get(fd);
    if (!req || 'label' in req) throw errno('EBADF', 'read');
    while (req.events.length === 0) {
      if (signal.aborted || req.closed) return 0;
      await new Promise<void>((resolve) => {
        const done = () => {
          req.waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        req.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    if (signal.aborted) return 0;
    const fit = Math.floor(buf.byteLength / SIZE.gpio_v2_line_event);
    if (fit === 0) throw errno('EINVAL', 'read');
    const batch = req.events.splice(0, fit);
    batch.forEach((e, i) => encodeLineEvent(e, buf, i * SIZE.gpio_v2_line_event));
    return batch.length * SIZE.gpio_v2_line_event;
  }

  close(fd: number): void {
    const target = this.#fds.get(fd);
    if (!target) throw errno('EBADF', 'close');
    this.#fds.delete(fd);
    if ('label' in target) return;
    target.closed = true;
    for (const w of [...target.waiters]) w();
    for (const offset of target.offsets) {
      const line = target.chip.lines[offset]!;
      clearTimeout(line.timer);
      line.timer = undefined;
      line.request = undefined;
      const wasOutput = line.settings && hasBit(line.settings.flags, LineFlag.OUTPUT);
      line.settings = undefined;
      if (wasOutput && !this.#options.persistOutputs) line.driven = undefined; // back to input
    }
  }

  // --- test controls -------------------------------------------------------------------------

  /** The physical level on a line: what an output drives (held, or persisting), else the outside level, else its pull. */
  level(offset: number, chip = 0): Bit {
    const line = this.#line(chip, offset);
    if (line.driven !== undefined) return line.driven;
    return this.#inputLevel(line);
  }

  /** Who holds a line ('' when free) and whether it is an output now. */
  info(offset: number, chip = 0): { consumer: string; output: boolean; held: boolean } {
    const line = this.#line(chip, offset);
    return {
      consumer: line.request?.consumer ?? line.externalConsumer ?? '',
      output: !!line.settings && hasBit(line.settings.flags, LineFlag.OUTPUT),
      held: !!line.request || line.externalConsumer !== undefined,
    };
  }

  /** Marks a line as held by another process or driver (`consumer` as gpioinfo would show it); undefined frees it. */
  holdExternally(offset: number, consumer: string | undefined, chip = 0): void {
    this.#line(chip, offset).externalConsumer = consumer;
  }

  /**
   * The outside world drives an input line to a physical level (a button, a sensor): if the
   * line is held with edge detection, an edge event follows — at once, or once the level held
   * for the debounce period. `undefined` lets the line float (its bias decides).
   * @param timeNs the event's timestamp in ns; default now (CLOCK_REALTIME or monotonic, as the request asked).
   */
  drive(offset: number, level: Bit | undefined, options: { chip?: number; timeNs?: bigint } = {}): void {
    const line = this.#line(options.chip ?? 0, offset);
    line.outside = level;
    this.#changed(line, offset, options.timeNs);
  }

  /** How many fds are open (chips and requests). */
  get openFds(): number {
    return this.#fds.size;
  }

  // --- the kernel's side ---------------------------------------------------------------------

  #line(chip: number, offset: number): Line {
    const line = this.#chips[chip]?.lines[offset];
    if (!line) throw new RangeError(`fake chip ${chip} has no line ${offset}`);
    return line;
  }

  #inputLevel(line: Line): Bit {
    if (line.outside !== undefined) return line.outside;
    return hasBit(line.bias, LineFlag.BIAS_PULL_UP) ? 1 : 0;
  }

  #chipIoctl(chip: Chip, request: number, arg: Uint8Array): void {
    if (request === IOCTL.GPIO_GET_CHIPINFO_IOCTL) {
      this.calls.push('CHIPINFO');
      encodeChipInfo({ name: chip.name, label: chip.label, lines: chip.lines.length }, arg);
      return;
    }
    if (request === IOCTL.GPIO_V2_GET_LINEINFO_IOCTL) {
      const v = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
      const offset = v.getUint32(OFFSET.gpio_v2_line_info.offset, true);
      const line = chip.lines[offset];
      if (!line) throw errno('EINVAL', 'ioctl');
      const s = line.settings;
      const held = !!line.request || line.externalConsumer !== undefined;
      encodeLineInfo(
        {
          name: line.name,
          consumer: line.request?.consumer ?? line.externalConsumer ?? '',
          offset,
          flags: (held ? LineFlag.USED : 0) | (s ? s.flags : LineFlag.INPUT),
          debounceUs: s?.debounceUs ?? 0,
        },
        arg,
      );
      return;
    }
    if (request === IOCTL.GPIO_V2_GET_LINE_IOCTL) return this.#getLine(chip, arg);
    throw errno('ENOTTY', 'ioctl');
  }

  #getLine(chip: Chip, arg: Uint8Array): void {
    const v = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    const n = v.getUint32(OFFSET.gpio_v2_line_request.num_lines, true);
    if (n < 1 || n > GPIO_V2_LINES_MAX) throw errno('EINVAL', 'ioctl');
    const req = decodeLineRequest(arg);
    this.calls.push(`GET_LINE ${req.offsets.join(',')} consumer=${req.consumer}`);
    if (req.padding.some((p) => p !== 0)) throw errno('EINVAL', 'ioctl');
    const configPadding = Array.from({ length: 5 }, (_, i) => v.getUint32(OFFSET.gpio_v2_line_request.config + OFFSET.gpio_v2_line_config.padding + 4 * i, true));
    if (configPadding.some((p) => p !== 0)) throw errno('EINVAL', 'ioctl');
    for (const offset of req.offsets) if (offset >= chip.lines.length) throw errno('EINVAL', 'ioctl');
    if (req.settings.some((s) => !flagsValid(s.flags))) throw errno('EINVAL', 'ioctl');
    for (const offset of req.offsets) {
      const line = chip.lines[offset]!;
      if (line.request || line.externalConsumer !== undefined) throw errno('EBUSY', 'ioctl');
    }
    const fd = this.#nextFd++;
    const request: Request = {
      fd,
      chip,
      offsets: req.offsets,
      consumer: req.consumer,
      capacity: req.eventBufferSize || 16 * n,
      events: [],
      seqno: 0,
      lineSeqno: req.offsets.map(() => 0),
      waiters: new Set(),
      closed: false,
    };
    req.offsets.forEach((offset, i) => this.#configure(chip.lines[offset]!, req.settings[i]!, request));
    this.#fds.set(fd, request);
    setRequestFd(arg, fd);
  }

  #configure(line: Line, settings: LineSettings, request: Request): void {
    line.request = request;
    line.settings = settings;
    if (settings.flags & BIAS_MASK) line.bias = settings.flags & BIAS_MASK;
    if (hasBit(settings.flags, LineFlag.OUTPUT)) {
      const activeLow = hasBit(settings.flags, LineFlag.ACTIVE_LOW);
      line.driven = ((settings.output ?? 0) ^ (activeLow ? 1 : 0)) as Bit;
    } else {
      line.driven = undefined;
      line.reported = this.#inputLevel(line);
    }
  }

  #requestIoctl(req: Request, request: number, arg: Uint8Array): void {
    if (request === IOCTL.GPIO_V2_LINE_SET_VALUES_IOCTL) {
      const { bits, mask } = decodeLineValues(arg);
      this.calls.push(`SET_VALUES fd=${req.fd} bits=${bits} mask=${mask}`);
      if (mask === 0n) throw errno('EINVAL', 'ioctl');
      req.offsets.forEach((offset, i) => {
        if (!((mask >> BigInt(i)) & 1n)) return;
        const line = req.chip.lines[offset]!;
        if (!line.settings || !hasBit(line.settings.flags, LineFlag.OUTPUT)) throw errno('EPERM', 'ioctl');
      });
      req.offsets.forEach((offset, i) => {
        if (!((mask >> BigInt(i)) & 1n)) return;
        const line = req.chip.lines[offset]!;
        const activeLow = hasBit(line.settings!.flags, LineFlag.ACTIVE_LOW);
        line.driven = (Number((bits >> BigInt(i)) & 1n) ^ (activeLow ? 1 : 0)) as Bit;
      });
      return;
    }
    if (request === IOCTL.GPIO_V2_LINE_GET_VALUES_IOCTL) {
      const { mask } = decodeLineValues(arg);
      if (mask === 0n) throw errno('EINVAL', 'ioctl');
      let bits = 0n;
      req.offsets.forEach((offset, i) => {
        if (!((mask >> BigInt(i)) & 1n)) return;
        const line = req.chip.lines[offset]!;
        const activeLow = hasBit(line.settings!.flags, LineFlag.ACTIVE_LOW);
        const physical = line.driven ?? this.#inputLevel(line);
        if (physical ^ (activeLow ? 1 : 0)) bits |= 1n << BigInt(i);
      });
      encodeLineValues(bits, mask, arg);
      return;
    }
    if (request === IOCTL.GPIO_V2_LINE_SET_CONFIG_IOCTL) {
      const settings = decodeLineConfig(arg, req.offsets.length);
      this.calls.push(`SET_CONFIG fd=${req.fd} flags=${settings.map((s) => s.flags).join(',')}`);
      if (settings.some((s) => !flagsValid(s.flags))) throw errno('EINVAL', 'ioctl');
      req.offsets.forEach((offset, i) => this.#configure(req.chip.lines[offset]!, settings[i]!, req));
      return;
    }
    throw errno('ENOTTY', 'ioctl');
  }

  #now(realtime: boolean): bigint {
    const mono = process.hrtime.bigint();
    return realtime ? this.#realtimeBase + mono : mono;
  }

  #changed(line: Line, offset: number, timeNs?: bigint): void {
    const req = line.request;
    const s = line.settings;
    if (!req || !s || !hasBit(s.flags, LineFlag.INPUT)) return;
    const realtime = hasBit(s.flags, LineFlag.EVENT_CLOCK_REALTIME);
    const debounceUs = s.debounceUs ?? 0;
    if (debounceUs === 0) return this.#report(line, offset, timeNs ?? this.#now(realtime));
    // The kernel's software debounce: the level must hold for the period; the event carries the
    // time the period ended (gpiolib-cdev.c debounce_work_func).
    clearTimeout(line.timer);
    line.timer = setTimeout(() => {
      line.timer = undefined;
      this.#report(line, offset, this.#now(realtime));
    }, debounceUs / 1000);
  }

  #report(line: Line, offset: number, timeNs: bigint): void {
    const req = line.request;
    const s = line.settings;
    if (!req || !s || req.closed) return;
    const level = this.#inputLevel(line);
    if (level === line.reported) return;
    line.reported = level;
    const activeLow = hasBit(s.flags, LineFlag.ACTIVE_LOW);
    const rising = (level ^ (activeLow ? 1 : 0)) === 1;
    if (!hasBit(s.flags, rising ? LineFlag.EDGE_RISING : LineFlag.EDGE_FALLING)) return;
    const i = req.offsets.indexOf(offset);
    const event: LineEvent = {
      timestampNs: timeNs,
      id: rising ? LineEventId.RISING_EDGE : LineEventId.FALLING_EDGE,
      offset,
      seqno: ++req.seqno,
      lineSeqno: ++req.lineSeqno[i]!,
    };
    if (req.events.length >= req.capacity) req.events.shift(); // kfifo full: the oldest is dropped
    req.events.push(event);
    for (const w of [...req.waiters]) w();
  }
}
