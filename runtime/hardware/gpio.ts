/**
 * The GPIO layer: one small digital-output interface ({@link OutputPin}) with three backends:
 * `chardev` (the kernel's GPIO character device, uAPI v2, through ./gpio-chardev.ts), `sysfs`
 * (real pins through the npm package onoff) and `virtual` (in memory, logged). Pins are BCM
 * numbers (on chardev: line offsets, or line names on other boards). Inputs are in ./input.ts. Every open pin is registered with the safe-state registry
 * (./safe-state.ts), which drives it inactive and releases it when the process stops.
 * See docs/API.md (GPIO).
 *
 * The sysfs format read here is the kernel's: Documentation/ABI/obsolete/sysfs-gpio and
 * Documentation/admin-guide/gpio/sysfs.rst (`/sys/class/gpio/gpiochipN/{base,label,ngpio}`,
 * one value per file followed by a newline).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Gpio } from 'onoff';
import { addonError } from '../addon.js';
import { errors, oneLine, SketchError } from '../errors.js';
import { listChipDevices, systemSyscalls } from './gpio-syscalls.js';
import { BIASES, biasFlags, chardevSyscalls, DRIVES, driveFlags, findChardevChip, getValues, lineError, listChardevChips, raspberryPiChip, requestLine, setValues, type Bias, type Drive, type FoundChip, type HeldLines } from './gpio-chardev.js';
import { LineFlag, SIZE, type GpioSyscalls } from './gpio-uapi.js';
import { MAX_LEASE_MS, systemGuardian, type PinGuard, type PinGuardian } from './guardian.js';
import { currentPinScope } from './pin-scope.js';
import { holdPin } from './safe-state.js';

/**
 * Which backend {@link openOutput} and `openInput` use. `auto` (the default) is chardev when a
 * chip labelled as a Raspberry Pi's (`pinctrl-rp1`, `pinctrl-bcm2711`, `pinctrl-bcm2835`) can
 * be opened, else sysfs when onoff finds it accessible, else virtual, with one log line saying
 * which and why.
 */
export type GpioBackendName = 'auto' | 'chardev' | 'sysfs' | 'virtual';

/** The backends a pin can end up on. */
export type GpioBackend = 'chardev' | 'sysfs' | 'virtual';

/** Every {@link GpioBackendName}, for option checks. */
export const GPIO_BACKENDS: readonly GpioBackendName[] = ['auto', 'chardev', 'sysfs', 'virtual'];

/** A logical value (1 = active) or a physical level (1 = high, 3.3 V on a Pi). */
export type Bit = 0 | 1;

/** One digital output pin. `write(1)` makes it active; it starts, and ends, inactive. */
export interface OutputPin {
  /** BCM pin number (GPIO18 = physical header pin 12); on chardev, the line offset or name as given. */
  readonly pin: number | string;
  /** The backend that drives it. */
  readonly backend: GpioBackend;
  /** When true, active is the low level (0 V) and inactive the high level. */
  readonly activeLow: boolean;
  /** True once `close()` ran (directly or through the safe-state hooks). */
  readonly closed: boolean;
  /**
   * Drives the pin: 1 = active, 0 = inactive.
   * @throws SketchError `SKETCH_ERR_BAD_MESSAGE` for a value other than 0 or 1,
   *   `SKETCH_ERR_CLOSED` after `close()`, `SKETCH_ERR_GPIO_EXPORT` when the sysfs write fails.
   */
  write(value: Bit): void;
  /**
   * The pin's current logical value (1 = active); sysfs reads it back from the `value` file.
   * @throws SketchError `SKETCH_ERR_CLOSED` after `close()`, `SKETCH_ERR_GPIO_EXPORT` when the
   *   sysfs read fails.
   */
  read(): Bit;
  /**
   * Drives the pin inactive and releases it (sysfs: unexport). Synchronous; safe to call twice.
   * @throws SketchError `SKETCH_ERR_GPIO_EXPORT` when the final write fails (the pin is
   *   released anyway).
   */
  close(): void;
}

/** The part of an onoff `Gpio` instance the sysfs backend uses. */
export type OnoffGpio = Pick<Gpio, 'readSync' | 'writeSync' | 'unexport'>;

/**
 * The onoff `Gpio` class, or a fake with the same shape for tests. `accessible` tells whether
 * `/sys/class/gpio/export` can be opened for writing; the constructor exports the pin and
 * configures it (onoff always uses `/sys/class/gpio`, whatever `sysfsRoot` says).
 */
export interface OnoffClass {
  readonly accessible: boolean;
  new (gpio: number, direction: 'high' | 'low', edge: 'none', options: { activeLow: boolean }): OnoffGpio;
}

/** Options of {@link openOutput}. */
export interface OutputOptions {
  /** Default `auto`: sysfs when onoff reports `Gpio.accessible`, else virtual (with one log line saying so). */
  backend?: GpioBackendName;
  /** Active is the low level. Default false. */
  activeLow?: boolean;
  /** Where the virtual backend's `pin N -> V` lines and the auto fallback line go. Default `console.log`. */
  log?: (line: string) => void;
  /**
   * Where the GPIO chips are looked up to turn BCM numbers into sysfs numbers. Default: env
   * `SKETCH_SYSFS_ROOT`, else `/sys`.
   */
  sysfsRoot?: string;
  /** The onoff `Gpio` class to use (tests pass a fake). Default: the real one, loaded on first use. */
  onoff?: OnoffClass;
  /**
   * chardev: the chip, as a device path (`/dev/gpiochip4`), kernel name (`gpiochip4`) or label
   * (`pinctrl-rp1`). Default: the Raspberry Pi's SoC chip, found by its label; `auto` never
   * picks another chip without this option.
   */
  chip?: string;
  /** chardev: the consumer label `gpioinfo` shows for the line. Default `sketchnet` (sketches pass `sketchnet:<name>`). */
  consumer?: string;
  /** chardev: output drive. Default `push-pull`. */
  drive?: Drive;
  /** chardev: bias (pull resistors). Default `as-is`. */
  bias?: Bias;
  /** chardev: the syscalls (tests pass a fake chip). Default: the real ones, through koffi. */
  syscalls?: GpioSyscalls;
  /**
   * Lease in ms (like Klipper's `max_duration`): an output left active this long without a
   * refresh from this process — its event loop blocked, or the process stopped — is driven
   * inactive by the guardian (it stays exported, or requested; the next write drives it again).
   * This process refreshes on its own while its event loop runs, every quarter of the lease, so
   * pick a lease well above its longest pause. Default 0: no lease. Has no effect without a
   * guardian (virtual pins, `guardian: false`); on chardev it needs pidfd_getfd (Linux ≥ 5.6,
   * ptrace access: docs/API.md, Guardian), else the guardian says so in one line.
   */
  lease?: number;
  /**
   * Guards a sysfs or chardev output against the death of this process (./guardian.ts):
   * SIGKILL, the OOM killer, a crash. Default: the process's shared guardian when the real onoff
   * or the real syscalls drive the pin; none when `onoff` or `syscalls` is replaced (pass one
   * explicitly). `false`: none.
   * Virtual pins never have one.
   */
  guardian?: PinGuardian | false;
}

/** One `/sys/class/gpio/gpiochipN` directory. */
export interface GpioChip {
  /** Directory name, e.g. `gpiochip512`. */
  name: string;
  /** sysfs number of the chip's first line (0 before Linux 6.6; 512 on a Pi 4, 571 on a Pi 5 since 6.6). */
  base: number;
  /** How many lines (pins) the chip has: valid BCM numbers are 0 … ngpio − 1. */
  ngpio: number;
  /** The driver's label, e.g. `pinctrl-bcm2711`, `pinctrl-rp1`. */
  label: string;
}

/** One level a {@link VirtualPin} was driven to. */
export interface Transition {
  /** When, in ms since the epoch. */
  time: number;
  /** Logical value, 1 = active. */
  value: Bit;
  /** Physical level, 1 = high (differs from `value` when active-low). */
  level: Bit;
}

/** The sysfs root: env `SKETCH_SYSFS_ROOT` when set, else `/sys`. */
export function defaultSysfsRoot(): string {
  return process.env.SKETCH_SYSFS_ROOT || '/sys';
}

/**
 * Lists the GPIO chips under `SYSFS_ROOT/class/gpio/gpiochip*`, reading `base`, `ngpio` and
 * `label` (each holds one value and a newline). Chips whose files cannot be read are left out.
 * @param sysfsRoot default {@link defaultSysfsRoot}.
 * @returns the chips, none when the directory does not exist.
 */
export function listGpioChips(sysfsRoot = defaultSysfsRoot()): GpioChip[] {
  const dir = path.join(sysfsRoot, 'class', 'gpio');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of names.filter((n) => /^gpiochip\d+$/.test(n)).sort()) {
    try {
      const read = (file: string) => fs.readFileSync(path.join(dir, name, file), 'utf8').trim();
      const chip = { name, base: Number(read('base')), ngpio: Number(read('ngpio')), label: read('label') };
      if (Number.isInteger(chip.base) && Number.isInteger(chip.ngpio)) chips.push(chip);
    } catch {
      // not a readable chip directory: skip it
    }
  }
  return chips;
}

/**
 * The chip that carries the Raspberry Pi's BCM-numbered GPIOs: `pinctrl-rp1` (Pi 5) if present,
 * else the first `pinctrl-bcm*` (`pinctrl-bcm2835` Pi 1–3 and Zero, `pinctrl-bcm2711` Pi 4,
 * `pinctrl-bcm2712`). Other chips (`gpio-brcmstb@…`, `raspberrypi-exp-gpio`) are never chosen.
 * @param sysfsRoot default {@link defaultSysfsRoot}.
 * @throws SketchError `SKETCH_ERR_GPIO_UNAVAILABLE` when there is no such chip.
 */
export function findSocChip(sysfsRoot = defaultSysfsRoot()): GpioChip {
  const chips = listGpioChips(sysfsRoot);
  const chip = chips.find((c) => c.label === 'pinctrl-rp1') ?? chips.find((c) => c.label.startsWith('pinctrl-bcm'));
  if (chip) return chip;
  const seen = chips.length ? `only ${chips.map((c) => c.label).join(', ')}` : 'no GPIO chips';
  throw errors.GPIO_UNAVAILABLE(
    `${path.join(sysfsRoot, 'class', 'gpio')} has ${seen}, no Raspberry Pi chip (pinctrl-bcm*, pinctrl-rp1)`,
  );
}

/**
 * Turns a BCM pin number into the number sysfs uses for it: the SoC chip's `base` plus the BCM
 * number (Linux 6.6 moved the bases from 0 to 512 and up, so BCM 18 is 18 on older kernels,
 * 530 on a Pi 4 and 589 on a Pi 5).
 * @param sysfsRoot default {@link defaultSysfsRoot}.
 * @throws SketchError `SKETCH_ERR_GPIO_PIN_RANGE` when the pin is not on the chip (the message
 *   gives the valid range), `SKETCH_ERR_GPIO_UNAVAILABLE` when no SoC chip is found.
 */
export function resolveSysfsNumber(bcm: number, sysfsRoot = defaultSysfsRoot()): number {
  return locate(bcm, sysfsRoot).number;
}

function locate(bcm: number, sysfsRoot: string): { chip: GpioChip; number: number } {
  checkPinNumber(bcm);
  const chip = findSocChip(sysfsRoot);
  if (bcm >= chip.ngpio) throw errors.GPIO_PIN_RANGE(bcm, chip);
  return { chip, number: chip.base + bcm };
}

/** A BCM number for the sysfs and virtual backends (a digit string is accepted); line names need chardev. */
export function checkPinNumber(pin: number | string): number {
  const n = typeof pin === 'string' && /^\d+$/.test(pin) ? Number(pin) : pin;
  if (typeof n === 'string') throw errors.GPIO_CHIP(`GPIO ${JSON.stringify(n)}: line names need the chardev backend (--gpio chardev); sysfs and virtual pins take a BCM number`);
  if (!Number.isInteger(n) || n < 0) throw errors.GPIO_PIN_RANGE(n);
  return n;
}

/**
 * What the backends share: the logical/physical mapping, the closed state and the
 * registration with the safe-state registry. A backend implements `drive`, `sense` and `free`
 * and calls `start()` once its hardware is ready.
 */
export abstract class BaseOutputPin implements OutputPin {
  abstract readonly backend: GpioBackend;
  #closed = false;
  #drop?: () => void;

  /** @param pin BCM number (or line name), already checked. @param activeLow active is the low level. */
  constructor(
    readonly pin: number | string,
    readonly activeLow: boolean,
  ) {}

  /** Sets the physical level. */
  protected abstract drive(level: Bit): void;
  /** Reads the physical level. */
  protected abstract sense(): Bit;
  /** Releases the hardware (sysfs: unexport). Called once, after the inactive level is set. */
  protected abstract free(): void;

  /** Drives the pin inactive and registers it for safe state. */
  protected start(): void {
    this.drive(this.#levelOf(0));
    this.#drop = holdPin({ pin: this.pin, virtual: this.backend === 'virtual', release: () => this.close() });
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** See {@link OutputPin.write}. */
  write(value: Bit): void {
    if (value !== 0 && value !== 1) {
      throw errors.BAD_MESSAGE(`GPIO ${this.pin} takes 0 (inactive) or 1 (active), got ${JSON.stringify(value)}`);
    }
    if (this.#closed) throw errors.CLOSED(`GPIO ${this.pin}`);
    this.drive(this.#levelOf(value));
  }

  /** See {@link OutputPin.read}. */
  read(): Bit {
    if (this.#closed) throw errors.CLOSED(`GPIO ${this.pin}`);
    return this.#levelOf(this.sense());
  }

  /** See {@link OutputPin.close}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.drive(this.#levelOf(0));
    } finally {
      try {
        this.free();
      } finally {
        this.#drop?.();
      }
    }
  }

  /** Logical value → physical level; being its own inverse, it also maps a level back to a value. */
  #levelOf(bit: Bit): Bit {
    return this.activeLow ? ((1 - bit) as Bit) : bit;
  }
}

/** Changes a {@link VirtualPin} keeps in `transitions`, the oldest dropped first: 1000 (as `/pin`'s history). */
export const VIRTUAL_TRANSITIONS_MAX = 1000;

/**
 * An output pin in memory. Every change of level is recorded in {@link transitions} and logged
 * as `pin <BCM> -> <value>` (logical value, 1 = active) through `log`; opening drives it
 * inactive, which is the first transition. Any whole number ≥ 0 is accepted as pin number.
 */
export class VirtualPin extends BaseOutputPin {
  readonly backend = 'virtual';
  /**
   * The levels the pin was driven to, oldest first (a write that changes nothing adds none): the
   * last {@link VIRTUAL_TRANSITIONS_MAX}, so that a pin driven for days holds bounded memory.
   */
  readonly transitions: Transition[] = [];
  readonly #log: (line: string) => void;
  #physical?: Bit;

  /** The logical value it was last driven to (1 = active); still readable once closed (then 0). */
  get value(): Bit {
    return this.transitions.at(-1)?.value ?? 0;
  }

  /**
   * Opens the pin, drives it inactive and registers it for safe state.
   * @param options.activeLow default false; options.log default `console.log`.
   * @throws SketchError `SKETCH_ERR_GPIO_PIN_RANGE` when `pin` is not a whole number ≥ 0.
   */
  constructor(pin: number, options: { activeLow?: boolean; log?: (line: string) => void } = {}) {
    super(checkPinNumber(pin), options.activeLow ?? false);
    this.#log = options.log ?? ((line) => console.log(line));
    this.start();
  }

  protected drive(level: Bit): void {
    if (level === this.#physical) return;
    this.#physical = level;
    const value = (this.activeLow ? 1 - level : level) as Bit;
    if (this.transitions.push({ time: Date.now(), value, level }) > VIRTUAL_TRANSITIONS_MAX) this.transitions.shift();
    this.#log(`pin ${this.pin} -> ${value}`);
  }

  protected sense(): Bit {
    return this.#physical ?? 0;
  }

  protected free(): void {}
}

/** An output pin driven through onoff and `/sys/class/gpio/gpioN/value`. */
class SysfsPin extends BaseOutputPin {
  readonly backend = 'sysfs';
  readonly #gpio: OnoffGpio;
  readonly #number: number;
  #guard?: PinGuard;

  constructor(
    pin: number,
    activeLow: boolean,
    at: { chip: GpioChip; number: number },
    onoff: OnoffClass,
    guarded?: { guardian: PinGuardian; leaseMs: number; log: (line: string) => void },
  ) {
    super(pin, activeLow);
    this.#number = at.number;
    try {
      // 'high'/'low' make it an output at that physical level without a glitch; active_low is
      // reset to 0 so the value file always holds the physical level.
      this.#gpio = new onoff(at.number, activeLow ? 'high' : 'low', 'none', { activeLow: false });
    } catch (err) {
      throw exportError(pin, at, err);
    }
    try {
      // Exported at the inactive level: from here on, the guardian turns it off if we die.
      const inactiveLevel = activeLow ? 1 : 0;
      this.#guard = guarded?.guardian.hold(
        { pin, sysfs: at.number, inactiveLevel, activeLow, leaseMs: guarded.leaseMs },
        guarded.log,
      );
      // Writes the inactive level once more: for a pin still exported by an earlier (killed) run,
      // onoff skips the export and ignores a failure to set the direction.
      this.start();
    } catch (err) {
      try {
        this.#gpio.unexport();
      } finally {
        this.#guard?.release();
      }
      throw err;
    }
  }

  protected drive(level: Bit): void {
    const active = level !== (this.activeLow ? 1 : 0);
    if (active) this.#guard?.active(true); // the lease runs before the pin goes active
    try {
      this.#gpio.writeSync(level);
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `writing ${level} to sysfs ${this.#number} failed: ${oneLine(err)}`, err);
    }
    if (!active) this.#guard?.active(false);
  }

  protected sense(): Bit {
    try {
      return this.#gpio.readSync();
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `reading sysfs ${this.#number} failed: ${oneLine(err)}`, err);
    }
  }

  protected free(): void {
    try {
      this.#gpio.unexport();
    } finally {
      this.#guard?.release(); // after the sketch's own inactive write and unexport
    }
  }
}

function exportError(pin: number, at: { chip: GpioChip; number: number }, err: unknown): SketchError {
  if (err instanceof SketchError) return err;
  const n = at.number;
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EACCES':
    case 'EPERM':
      return errors.GPIO_PERMISSION(pin, err);
    case 'EBUSY':
      return errors.GPIO_EXPORT(
        pin,
        `sysfs ${n} is busy: another process or a kernel driver holds the pin; stop it or use another pin`,
        err,
      );
    case 'EINVAL':
      return errors.GPIO_EXPORT(
        pin,
        `the kernel rejected sysfs number ${n} (EINVAL), computed as base ${at.chip.base} of ${at.chip.name} (${at.chip.label}) + ${pin}; check that chip's base in /sys/class/gpio`,
        err,
      );
    default:
      return errors.GPIO_EXPORT(pin, `sysfs ${n}: ${oneLine(err)}`, err);
  }
}

/** An output line requested through the GPIO character device (./gpio-chardev.ts). */
class ChardevPin extends BaseOutputPin {
  readonly backend = 'chardev';
  readonly #sys: GpioSyscalls;
  readonly #held: HeldLines;
  readonly #values = new Uint8Array(SIZE.gpio_v2_line_values);
  #guard?: PinGuard;

  /** Where the line is: `/dev/gpiochip0` line 18 (pinctrl-rp1). */
  readonly where: string;

  constructor(
    pin: number | string,
    activeLow: boolean,
    sys: GpioSyscalls,
    chip: FoundChip,
    options: OutputOptions,
    guarded?: { guardian: PinGuardian; leaseMs: number; log: (line: string) => void },
  ) {
    super(pin, activeLow);
    this.#sys = sys;
    const inactive = activeLow ? 1 : 0;
    // Requested as an output already at the inactive level: no glitch. active_low stays off in
    // the kernel: BaseOutputPin maps logical values to physical levels for every backend.
    const flags = LineFlag.OUTPUT | driveFlags(options.drive) | biasFlags(options.bias);
    this.#held = requestLine(sys, chip, pin, { flags, output: inactive }, options.consumer);
    this.where = `${this.#held.chip.path} line ${this.#held.offsets[0]} (${this.#held.chip.label})`;
    try {
      // Requested at the inactive level: from here on, the guardian turns it off if we die
      // (Raspberry Pi kernels keep a line driven after its fd closes, raspberrypi/linux#6117).
      this.#guard = guarded?.guardian.hold(
        {
          kind: 'chardev',
          pin,
          chip: this.#held.chip.path,
          offset: this.offset,
          inactiveLevel: inactive,
          activeLow,
          leaseMs: guarded.leaseMs,
          flags,
          fd: this.#held.fd,
          consumer: this.#held.consumer,
        },
        guarded.log,
      );
      this.start();
    } catch (err) {
      try {
        sys.close(this.#held.fd);
      } finally {
        this.#guard?.release();
      }
      throw err;
    }
  }

  /** The line offset on its chip. */
  get offset(): number {
    return this.#held.offsets[0]!;
  }

  protected drive(level: Bit): void {
    const active = level !== (this.activeLow ? 1 : 0);
    if (active) this.#guard?.active(true); // the lease runs before the line goes active
    try {
      setValues(this.#sys, this.#held.fd, this.#values, BigInt(level), 1n);
    } catch (err) {
      throw lineError(this.pin, `driving ${this.where} to ${level}`, err);
    }
    if (!active) this.#guard?.active(false);
  }

  protected sense(): Bit {
    try {
      return getValues(this.#sys, this.#held.fd, this.#values, 1n) & 1n ? 1 : 0;
    } catch (err) {
      throw lineError(this.pin, `reading ${this.where}`, err);
    }
  }

  protected free(): void {
    try {
      this.#sys.close(this.#held.fd);
    } finally {
      this.#guard?.release(); // after the sketch's own inactive write and release
    }
  }
}

const load = createRequire(import.meta.url);

/**
 * The real onoff class, or why it cannot be used: a string when this is not Linux or onoff
 * itself is missing, a `SKETCH_ERR_ADDON` error when its native `epoll` fails to load (built for
 * another Node.js, never built…). Loaded lazily: onoff needs Linux and its native epoll.
 */
function systemOnoff(): OnoffClass | SketchError | string {
  if (process.platform !== 'linux') return `it needs Linux, this is ${process.platform}`;
  try {
    return (load('onoff') as typeof import('onoff')).Gpio;
  } catch (err) {
    return addonError(err) ?? `cannot load onoff: ${oneLine(err)}`;
  }
}

/**
 * Opens `pin` (a BCM number) as a digital output, drives it inactive and registers it with the
 * safe-state registry. Synchronous.
 *
 * Backends: `virtual` is a {@link VirtualPin}; `sysfs` exports the pin through onoff as sysfs
 * number {@link resolveSysfsNumber}(pin) with edge `none`; `auto` (the default) is sysfs when
 * `Gpio.accessible`, else virtual with one log line saying why.
 *
 * A sysfs pin or chardev line is handed to a guardian process (`options.guardian`, see
 * ./guardian.ts) that drives it inactive (and unexports a pin) if this process dies without
 * doing so; when the guardian cannot start, one line goes to `log` and the pin works unguarded.
 *
 * In a pin scope (./pin-scope.ts: a sketch under the test kit) the pin is virtual whatever
 * `backend` says, is handed to the scope, and logs to the scope's `log` when `log` is not given.
 * @throws SketchError
 *   `SKETCH_ERR_INVALID_OPTION` for an unknown backend, or a `lease` that is not a whole
 *   number of ms from 0 to 86 400 000 (one day);
 *   `SKETCH_ERR_GPIO_PIN_RANGE` when the pin is not on the chip (or not a whole number ≥ 0);
 *   `SKETCH_ERR_GPIO_UNAVAILABLE` when `backend: 'sysfs'` but onoff is not accessible, or no
 *   Raspberry Pi GPIO chip is found;
 *   `SKETCH_ERR_GPIO_PERMISSION` on EACCES/EPERM;
 *   `SKETCH_ERR_GPIO_EXPORT` on EBUSY, EINVAL or another export failure;
 *   `SKETCH_ERR_ADDON` when onoff's native `epoll` fails to load and the backend is `sysfs`, or
 *   `auto` on a machine that has `/sys/class/gpio` (a Pi whose addon needs rebuilding).
 */
export function openOutput(pin: number | string, options: OutputOptions = {}): OutputPin {
  const { activeLow = false } = options;
  const scope = currentPinScope(); // the test kit's: every pin virtual, handed to it (./pin-scope.ts)
  const log = options.log ?? scope?.log ?? ((line: string) => console.log(line));
  const { lease = 0 } = options;
  if (!Number.isInteger(lease) || lease < 0 || lease > MAX_LEASE_MS) {
    throw errors.INVALID_OPTION(`--lease must be an integer from 0 to ${MAX_LEASE_MS} (ms; 0 = no lease), got ${String(lease)}`);
  }
  checkDriveAndBias(options);
  const chosen: ChosenBackend = scope ? { backend: 'virtual' } : selectBackend(pin, options, log);
  if (chosen.backend === 'virtual') {
    const virtual = new VirtualPin(checkPinNumber(pin), { activeLow, log });
    scope?.opened(virtual);
    return virtual;
  }
  if (chosen.backend === 'chardev') {
    // The shared guardian uses the real syscalls; a fake chip gets none unless given one.
    const guardian = options.guardian ?? (options.syscalls ? false : systemGuardian());
    return new ChardevPin(pin, activeLow, chosen.syscalls, chosen.chip, options, guardian ? { guardian, leaseMs: lease, log } : undefined);
  }
  // The shared guardian writes /sys/class/gpio, where the real onoff exports; a fake onoff gets none unless given one.
  const guardian = options.guardian ?? (options.onoff ? false : systemGuardian());
  const guarded = guardian ? { guardian, leaseMs: lease, log } : undefined;
  const bcm = checkPinNumber(pin);
  return new SysfsPin(bcm, activeLow, locate(bcm, chosen.sysfsRoot), chosen.onoff, guarded);
}

/** What {@link selectBackend} chose, with what that backend needs. */
export type ChosenBackend =
  | { backend: 'chardev'; syscalls: GpioSyscalls; chip: FoundChip }
  | { backend: 'sysfs'; onoff: OnoffClass; sysfsRoot: string }
  | { backend: 'virtual' };

/** The options {@link selectBackend} reads: those of outputs and inputs alike. */
export interface BackendOptions {
  /** The backend asked for. Default `auto`. */
  backend?: GpioBackendName;
  /** chardev: the chip (path, kernel name or label); with `auto` it selects chardev. Default: the Raspberry Pi chip. */
  chip?: string;
  /** chardev: the syscalls (tests pass a fake chip). Default: the real ones, loaded only where a `/dev/gpiochip*` exists. */
  syscalls?: GpioSyscalls;
  /** sysfs: the onoff `Gpio` class (tests pass a fake). Default: the real one, loaded on first use. */
  onoff?: OnoffClass;
  /** sysfs: where the GPIO chips are read. Default: env `SKETCH_SYSFS_ROOT`, else `/sys`. */
  sysfsRoot?: string;
}

/**
 * Picks the backend for a pin (see {@link GpioBackendName}): the one asked for, or for `auto`
 * chardev, then sysfs, then virtual, logging one line that says which and why (nothing is
 * logged when the backend was asked for by name).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for an unknown backend;
 *   `SKETCH_ERR_GPIO_UNAVAILABLE` when the backend asked for cannot be used; `SKETCH_ERR_GPIO_CHIP`
 *   for a `chip` that matches nothing; `SKETCH_ERR_ADDON` as {@link openOutput} says.
 */
export function selectBackend(pin: number | string, options: BackendOptions, log: (line: string) => void): ChosenBackend {
  const { backend = 'auto' } = options;
  if (!GPIO_BACKENDS.includes(backend)) {
    throw errors.INVALID_OPTION(`--gpio must be one of ${GPIO_BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
  }
  if (backend === 'virtual') return { backend };
  if (backend === 'chardev') {
    const syscalls = chardevSyscalls(options.syscalls);
    return { backend, syscalls, chip: findChardevChip(syscalls, options.chip) };
  }
  let chardevWhy = '';
  if (backend === 'auto') {
    // koffi is loaded only where a chip device exists (a laptop or CI machine has none) or --chip names one
    const sys = options.syscalls ?? (options.chip !== undefined || listChipDevices().length > 0 ? systemSyscalls() : undefined);
    if (sys === undefined) chardevWhy = raspberryPiChip([]) as string;
    else if (typeof sys === 'string') chardevWhy = sys;
    else if (options.chip !== undefined) {
      // --chip names the chip: its errors are the user's to see
      return { backend: 'chardev', syscalls: sys, chip: findChardevChip(sys, options.chip) };
    } else {
      const chip = raspberryPiChip(listChardevChips(sys));
      if (typeof chip !== 'string') {
        log(`gpio: chardev, ${chip.path} (${chip.label}): the kernel's GPIO character device`);
        return { backend: 'chardev', syscalls: sys, chip };
      }
      chardevWhy = chip;
    }
  }
  const sysfsRoot = options.sysfsRoot ?? defaultSysfsRoot();
  const onoff = options.onoff ?? systemOnoff();
  const virtual = (why: string): ChosenBackend => {
    log(`sysfs GPIO not available, pin ${pin} is virtual: ${why}${chardevWhy ? `; chardev: ${chardevWhy}` : ''}`);
    return { backend: 'virtual' };
  };
  if (onoff instanceof SketchError) {
    // A machine with GPIO whose addon is broken must not fall back to virtual pins in silence:
    // the buzzer would never sound. Without GPIO, auto goes virtual as it would anyway.
    if (backend === 'sysfs' || fs.existsSync(path.join(sysfsRoot, 'class', 'gpio'))) throw onoff;
    return virtual(onoff.message);
  }
  if (typeof onoff !== 'string' && onoff.accessible) {
    if (backend === 'auto') log(`gpio: sysfs through onoff (chardev: ${chardevWhy})`);
    return { backend: 'sysfs', onoff, sysfsRoot };
  }
  const why =
    typeof onoff === 'string'
      ? onoff
      : 'cannot write /sys/class/gpio/export: no GPIO sysfs on this machine, or no permission (add your user to the gpio group)';
  if (backend === 'sysfs') throw errors.GPIO_UNAVAILABLE(why);
  return virtual(why);
}


/** @throws SketchError `SKETCH_ERR_INVALID_OPTION` for an unknown drive or bias. */
export function checkDriveAndBias(options: { drive?: string; bias?: string }): void {
  if (options.drive !== undefined && !(DRIVES as readonly string[]).includes(options.drive)) {
    throw errors.INVALID_OPTION(`--drive must be one of ${DRIVES.join(', ')}, got ${JSON.stringify(options.drive)}`);
  }
  if (options.bias !== undefined && !(BIASES as readonly string[]).includes(options.bias)) {
    throw errors.INVALID_OPTION(`--bias must be one of ${BIASES.join(', ')}, got ${JSON.stringify(options.bias)}`);
  }
}
