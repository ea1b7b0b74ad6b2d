/**
 * The `chardev` GPIO backend: lines requested through the kernel's GPIO character device,
 * uAPI v2 (`/dev/gpiochipN`, kernel ≥ 5.10; `Documentation/userspace-api/gpio/chardev.rst`).
 * A chip is found by its label, so on a Raspberry Pi a BCM number is the line offset on the
 * SoC's chip (no sysfs bases of 512 or 571). Every line is requested with a consumer label
 * (`sketchnet:<sketch name>`), which `gpioinfo` shows. The calls go through a
 * {@link GpioSyscalls} seam: ./gpio-syscalls.ts (koffi) for real, a fake chip in tests.
 * See docs/API.md (GPIO).
 */
import { errors, oneLine, SketchError } from '../errors.js';
import {
  decodeChipInfo,
  decodeLineEvents,
  decodeLineInfo,
  decodeLineValues,
  encodeLineInfoQuery,
  encodeLineRequest,
  encodeLineValues,
  IOCTL,
  LineEventId,
  LineFlag,
  requestFd,
  SIZE,
  type ChipInfo,
  type GpioSyscalls,
  type LineEvent,
  type LineInfo,
  type LineSettings,
} from './gpio-uapi.js';
import { systemSyscalls } from './gpio-syscalls.js';

/** Labels of the chips that carry a Raspberry Pi's BCM-numbered header GPIOs, in the order they are preferred. */
export const RASPBERRY_PI_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

/** Every {@link Drive}, for option checks and CLI choices. */
export const DRIVES = ['push-pull', 'open-drain', 'open-source'] as const;
/** Output drive (`GPIO_V2_LINE_FLAG_OPEN_DRAIN`/`OPEN_SOURCE`; push-pull when neither). */
export type Drive = (typeof DRIVES)[number];
/** Every {@link Bias}, for option checks and CLI choices. */
export const BIASES = ['as-is', 'pull-up', 'pull-down', 'disabled'] as const;
/** Line bias: `as-is` leaves what the firmware or device tree set; `disabled` turns the pull resistors off. */
export type Bias = (typeof BIASES)[number];

/** One chip found under /dev. */
export interface FoundChip extends ChipInfo {
  /** Its device, e.g. `/dev/gpiochip0`. */
  path: string;
}

/** The real syscalls or a SketchError saying why there are none. */
export function chardevSyscalls(syscalls?: GpioSyscalls): GpioSyscalls {
  const sys = syscalls ?? systemSyscalls();
  if (typeof sys === 'string') throw errors.GPIO_UNAVAILABLE(sys, 'chardev');
  return sys;
}

/** Reads every chip's `gpiochip_info`; chips that cannot be opened are left out. */
export function listChardevChips(sys: GpioSyscalls): FoundChip[] {
  const found: FoundChip[] = [];
  for (const path of sys.chips()) {
    try {
      found.push({ path, ...chipInfo(sys, path) });
    } catch {
      // no permission, or gone: not a candidate
    }
  }
  return found;
}

function chipInfo(sys: GpioSyscalls, path: string): ChipInfo {
  const fd = sys.open(path);
  try {
    const buf = new Uint8Array(SIZE.gpiochip_info);
    sys.ioctl(fd, IOCTL.GPIO_GET_CHIPINFO_IOCTL, buf);
    return decodeChipInfo(buf);
  } finally {
    sys.close(fd);
  }
}

/**
 * Finds the chip to use: `chip` by path, name or label, else the Raspberry Pi's SoC chip.
 * @throws SketchError `SKETCH_ERR_GPIO_CHIP` when `chip` matches nothing (the message lists the
 *   chips seen), `SKETCH_ERR_GPIO_UNAVAILABLE` when no chip is given and no Raspberry Pi chip
 *   exists, `SKETCH_ERR_GPIO_PERMISSION` when the chip asked for cannot be opened (EACCES).
 */
export function findChardevChip(sys: GpioSyscalls, chip?: string): FoundChip {
  if (chip !== undefined && (chip.startsWith('/') || /^gpiochip\d+$/.test(chip))) {
    const path = chip.startsWith('/') ? chip : `/dev/${chip}`;
    try {
      return { path, ...chipInfo(sys, path) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') throw errors.GPIO_PERMISSION(chip, err);
      throw errors.GPIO_CHIP(`--chip ${chip}: cannot open ${path} (${oneLine(err)}); ${seen(listChardevChips(sys))}`);
    }
  }
  const chips = listChardevChips(sys);
  if (chip !== undefined) {
    const match = chips.find((c) => c.label === chip);
    if (match) return match;
    throw errors.GPIO_CHIP(`--chip ${chip}: no GPIO chip has that label; ${seen(chips)}`);
  }
  const pi = raspberryPiChip(chips);
  if (typeof pi === 'string') throw errors.GPIO_UNAVAILABLE(pi, 'chardev');
  return pi;
}

/**
 * The Raspberry Pi's SoC chip among `chips` (the first label of {@link RASPBERRY_PI_CHIP_LABELS}
 * found), or one line saying why there is none.
 */
export function raspberryPiChip(chips: FoundChip[]): FoundChip | string {
  for (const label of RASPBERRY_PI_CHIP_LABELS) {
    const match = chips.find((c) => c.label === label);
    if (match) return match;
  }
  return `${chips.length ? seen(chips) : 'no /dev/gpiochip* can be opened'}, no Raspberry Pi chip (${RASPBERRY_PI_CHIP_LABELS.join(', ')}); on another board pass --chip PATH|LABEL`;
}

function seen(chips: FoundChip[]): string {
  return chips.length ? `chips seen: ${chips.map((c) => `${c.path} (${c.label}, ${c.lines} lines)`).join(', ')}` : 'no GPIO chips seen';
}

/** One line's info (name, consumer, flags). */
export function lineInfo(sys: GpioSyscalls, chipFd: number, offset: number): LineInfo {
  const buf = encodeLineInfoQuery(offset);
  sys.ioctl(chipFd, IOCTL.GPIO_V2_GET_LINEINFO_IOCTL, buf);
  return decodeLineInfo(buf);
}

/**
 * Turns a pin into a line offset: a whole number is the offset (a BCM number on a Raspberry
 * Pi); a string of digits likewise; any other string is a line name (`GPIO17`), looked up in
 * the chip's line infos.
 * @throws SketchError `SKETCH_ERR_GPIO_PIN_RANGE` for an offset not on the chip,
 *   `SKETCH_ERR_GPIO_CHIP` for a name no line has.
 */
export function resolveLine(sys: GpioSyscalls, chipFd: number, chip: FoundChip, pin: number | string): number {
  const n = typeof pin === 'number' ? pin : /^\d+$/.test(pin) ? Number(pin) : undefined;
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 0) throw errors.GPIO_PIN_RANGE(n);
    if (n >= chip.lines) throw errors.GPIO_PIN_RANGE(n, { label: chip.label, ngpio: chip.lines });
    return n;
  }
  for (let offset = 0; offset < chip.lines; offset++) if (lineInfo(sys, chipFd, offset).name === pin) return offset;
  throw errors.GPIO_CHIP(`no line of ${chip.path} (${chip.label}) is named ${JSON.stringify(pin)}: use a line offset or a name gpioinfo lists`);
}

/** A line request held open: its fd and where it came from. */
export interface HeldLines {
  /** The request's fd: SET/GET_VALUES, SET_CONFIG and edge events go through it. Closing it releases the lines. */
  fd: number;
  /** The chip the lines are on. */
  chip: FoundChip;
  /** The line offsets held, in request order (a line's index here is its bit in SET/GET_VALUES). */
  offsets: number[];
  /** The consumer label the lines were requested with. */
  consumer: string;
}

/**
 * Requests lines on a chip (`GPIO_V2_GET_LINE_IOCTL`) and closes the chip's fd.
 * @param pin how the user named the pin, for messages.
 * @throws SketchError `SKETCH_ERR_GPIO_BUSY` when a line is held (naming its consumer),
 *   `SKETCH_ERR_GPIO_PERMISSION` on EACCES/EPERM, `SKETCH_ERR_GPIO_REQUEST` otherwise.
 */
export function requestLines(
  sys: GpioSyscalls,
  chip: FoundChip,
  chipFd: number,
  pin: number | string,
  offsets: number[],
  settings: LineSettings[],
  consumer: string,
  eventBufferSize = 0,
): HeldLines {
  const req = encodeLineRequest({ offsets, consumer, settings, eventBufferSize });
  try {
    sys.ioctl(chipFd, IOCTL.GPIO_V2_GET_LINE_IOCTL, req);
  } catch (err) {
    const where = `line ${offsets.join(',')} of ${chip.path}, ${chip.label}`;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY') {
      let holder = '';
      try {
        holder = lineInfo(sys, chipFd, offsets[0]!).consumer;
      } catch {
        // cannot tell who: the message says so
      }
      throw errors.GPIO_BUSY(pin, where, holder, err);
    }
    if (code === 'EACCES' || code === 'EPERM') throw errors.GPIO_PERMISSION(pin, err);
    throw errors.GPIO_REQUEST(pin, `the kernel refused to request ${where} (${oneLine(err)})`, err);
  }
  return { fd: requestFd(req), chip, offsets, consumer };
}

/**
 * Opens `chip` (found by {@link findChardevChip}), resolves the pin and requests it with
 * `settings` and `consumer`; the chip's fd is closed either way.
 * @throws SketchError as {@link resolveLine} and {@link requestLines} do, and
 *   `SKETCH_ERR_GPIO_PERMISSION` / `SKETCH_ERR_GPIO_UNAVAILABLE` when the chip cannot be opened.
 */
export function requestLine(
  sys: GpioSyscalls,
  chip: FoundChip,
  pin: number | string,
  settings: LineSettings,
  consumer = 'sketchnet',
  eventBufferSize = 0,
): HeldLines {
  let chipFd: number;
  try {
    chipFd = sys.open(chip.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw errors.GPIO_PERMISSION(pin, err);
    throw errors.GPIO_UNAVAILABLE(`cannot open ${chip.path}: ${oneLine(err)}`, 'chardev');
  }
  try {
    const offset = resolveLine(sys, chipFd, chip, pin);
    return requestLines(sys, chip, chipFd, pin, [offset], [settings], consumer, eventBufferSize);
  } finally {
    sys.close(chipFd);
  }
}

/** `LineFlag` bits for a drive. */
export function driveFlags(drive: Drive = 'push-pull'): number {
  if (drive === 'open-drain') return LineFlag.OPEN_DRAIN;
  if (drive === 'open-source') return LineFlag.OPEN_SOURCE;
  return 0;
}

/** `LineFlag` bits for a bias. */
export function biasFlags(bias: Bias = 'as-is'): number {
  if (bias === 'pull-up') return LineFlag.BIAS_PULL_UP;
  if (bias === 'pull-down') return LineFlag.BIAS_PULL_DOWN;
  if (bias === 'disabled') return LineFlag.BIAS_DISABLED;
  return 0;
}

/** Sets (`bits` & `mask`) the values of a held request's lines, by index in the request. */
export function setValues(sys: GpioSyscalls, fd: number, buf: Uint8Array, bits: bigint, mask: bigint): void {
  sys.ioctl(fd, IOCTL.GPIO_V2_LINE_SET_VALUES_IOCTL, encodeLineValues(bits, mask, buf));
}

/** Reads the values of a held request's lines in `mask`, by index in the request. */
export function getValues(sys: GpioSyscalls, fd: number, buf: Uint8Array, mask: bigint): bigint {
  encodeLineValues(0n, mask, buf);
  sys.ioctl(fd, IOCTL.GPIO_V2_LINE_GET_VALUES_IOCTL, buf);
  return decodeLineValues(buf).bits;
}

/** One kernel edge event as the input pins see it. */
export interface KernelEdge {
  /** Line offset. */
  offset: number;
  /** 1 after a rising edge, 0 after a falling one (logical when the line is active-low). */
  value: 0 | 1;
  /** Kernel timestamp in ms since the epoch (CLOCK_REALTIME, µs precision kept as a fraction). */
  time: number;
  /** The line's sequence number (from 1). */
  lineSeqno: number;
  /** The request's sequence number (from 1). */
  seqno: number;
}

/** Turns a decoded `gpio_v2_line_event` into a {@link KernelEdge}. */
export function kernelEdge(e: LineEvent): KernelEdge {
  return {
    offset: e.offset,
    value: e.id === LineEventId.RISING_EDGE ? 1 : 0,
    time: Number(e.timestampNs / 1000n) / 1000,
    lineSeqno: e.lineSeqno,
    seqno: e.seqno,
  };
}

/** Reads edge events from a request until `signal` aborts; calls `onEvents` with each batch. */
export async function readEdges(
  sys: GpioSyscalls,
  fd: number,
  signal: AbortSignal,
  onEvents: (edges: KernelEdge[]) => void,
  onError: (err: unknown) => void,
): Promise<void> {
  const buf = new Uint8Array(SIZE.gpio_v2_line_event * 16);
  while (!signal.aborted) {
    let n: number;
    try {
      n = await sys.readEvents(fd, buf, signal);
    } catch (err) {
      if (!signal.aborted) onError(err);
      return;
    }
    if (signal.aborted) return;
    if (n > 0) onEvents(decodeLineEvents(buf, n).map(kernelEdge));
  }
}

/** Wraps a failed ioctl on a held line as a SketchError. */
export function lineError(pin: number | string, what: string, err: unknown): SketchError {
  return errors.GPIO_REQUEST(pin, `${what} failed (${oneLine(err)})`, err);
}
