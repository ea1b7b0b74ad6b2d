/**
 * Hardware PWM for tones: a square wave at a frequency, for a passive buzzer (one that only
 * sounds when driven with an alternating signal). One output, {@link PwmOutput}, opened by
 * {@link openPwm} on the kernel's sysfs PWM interface and registered with the safe-state
 * registry (./safe-state.ts), which silences it when the process stops, and with the GPIO
 * guardian (./guardian.ts), which silences it when the process is killed (SIGKILL) or, with a
 * lease, hangs while it sounds. See docs/API.md (GPIO, "PWM tone").
 *
 * The sysfs format is the kernel's Documentation/ABI/testing/sysfs-class-pwm:
 * `/sys/class/pwm/pwmchipN/{npwm,export,unexport}`; writing channel X to `export` creates
 * `pwmchipN/pwmX/{period,duty_cycle,enable,polarity}`, period and duty cycle in nanoseconds,
 * `enable` 0/1, `polarity` `normal`/`inversed`. The PWM core refuses a state whose duty cycle
 * exceeds its period (EINVAL), so a new period is written before the duty cycle when it grows
 * and after it when it shrinks.
 *
 * Which chip and channel drive a BCM pin (the `device` link of `pwmchipN` names the controller;
 * the `N` itself changes between kernels and boots, so it is never assumed):
 *
 * - Pi Zero, 1–4 (bcm2835/bcm2711 PWM0, device `2020c000.pwm`, `3f20c000.pwm` or
 *   `fe20c000.pwm`): GPIO12 and GPIO18 are channel 0, GPIO13 and GPIO19 channel 1. Source:
 *   raspberrypi/linux arch/arm/boot/dts/overlays/README, overlays `pwm` and `pwm-2chan`
 *   ("Legal pin,function combinations for each channel: PWM0: 12,4(Alt0) 18,2(Alt5) …
 *   PWM1: 13,4(Alt0) 19,2(Alt5) …", read at commit 00322b31737881b2b56fbdbc377160933802a7cf).
 *   Enabled with `dtoverlay=pwm,pin=18,func=2` (`func=4` for 12 and 13) or `dtoverlay=pwm-2chan`.
 *   The Pi 4's PWM1 (`fe20c800.pwm`, GPIO40/41, the audio jack) is never chosen.
 * - Pi 5 (RP1 PWM0, device `1f00098000.pwm`): GPIO12 → channel 0, GPIO13 → 1, GPIO18 → 2,
 *   GPIO19 → 3. Source: the GPIO function table of Raspberry Pi's "RP1 peripherals" datasheet
 *   (datasheets.raspberrypi.com/rp1/rp1-peripherals.pdf: PWM0_CHAN0/1 on GPIO12/13 in function
 *   a0, PWM0_CHAN2/3 on GPIO18/19 in a3), as tabulated in Gadgetoid's "Raspberry Pi 5 - All
 *   channels on pwm0" (gist.github.com/Gadgetoid/b92ad3db06ff8c264eef2abf0e09d569); Pi 5 users
 *   report the same (`pinctrl get 18` shows `a3 … PWM0_CHAN2`, driven as pwmchipN/pwm2). The
 *   overlays README above has no Pi 5 table, but the same `dtoverlay=pwm…` lines select the
 *   pins there. RP1 PWM1 (`1f0009c000.pwm`) drives the fan and is never chosen.
 *
 * Exporting: the kernel creates `pwmX/` during the write to `export`, but its files belong to
 * root until a udev rule gives them to the `gpio` group, some ms later (`SUBSYSTEM=="pwm*"` with
 * `chown -R root:gpio /sys/class/pwm`, in /etc/udev/rules.d/99-com.rules on a Pi; see
 * raspberrypi/linux issue 1983). {@link openPwm} therefore waits until `pwmX/enable` is there
 * and writable, polling every {@link EXPORT_POLL_MS} ms for at most `exportWaitMs` (default
 * {@link EXPORT_WAIT_MS}), then gives up with one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, oneLine, SketchError } from '../errors.js';
import { defaultSysfsRoot, type Bit } from './gpio.js';
import { MAX_LEASE_MS, systemGuardian, type PinGuard, type PinGuardian } from './guardian.js';
import { holdPin } from './safe-state.js';

/** Lowest tone, Hz: one period is then 1 s, well inside both controllers' 32-bit range counters. */
export const MIN_TONE_HZ = 1;
/** Highest tone, Hz: the top of human hearing; a period of 50 000 ns. */
export const MAX_TONE_HZ = 20_000;
/** The tone when none is given, Hz: A4. */
export const DEFAULT_TONE_HZ = 440;
/** How long {@link openPwm} waits by default for `pwmX/` to appear and become writable after the export, ms. */
export const EXPORT_WAIT_MS = 1000;
/** How often it looks while it waits, ms. */
export const EXPORT_POLL_MS = 5;

/** What kind of controller a `pwmchipN` is, from its `device` link. */
export type PwmControllerKind = 'bcm2835-pwm0' | 'rp1-pwm0' | 'other';

/** One `/sys/class/pwm/pwmchipN` directory. */
export interface PwmChip {
  /** Directory name, e.g. `pwmchip0`. */
  name: string;
  /** `N` of `pwmchipN`. */
  number: number;
  /** Channels: `export` takes 0 … npwm − 1. */
  npwm: number;
  /** The controller's device name (the `device` link's last part), e.g. `fe20c000.pwm`; empty when there is no link. */
  device: string;
  /** What the device name says the controller is. */
  kind: PwmControllerKind;
}

/** A chip and channel chosen for a pin. */
export interface PwmChannel {
  chip: PwmChip;
  channel: number;
}

/** The file access {@link openPwm} uses; tests pass one that plays the kernel's checks. */
export interface PwmIo {
  /** Reads a whole file (sysfs: one value and a newline). */
  read(file: string): string;
  /** Writes a whole file. Throws errors with an errno `code` as `fs.writeFileSync` does. */
  write(file: string, text: string): void;
  /** Whether the file exists and this process may write it. */
  writable(file: string): boolean;
}

/** Options of {@link openPwm}. */
export interface PwmOptions {
  /** BCM number of the pin the buzzer is on: 12, 13, 18 or 19 (the pins with hardware PWM). Default 18. */
  pin?: number;
  /** The tone, Hz, from {@link MIN_TONE_HZ} to {@link MAX_TONE_HZ}. Default {@link DEFAULT_TONE_HZ} (440). */
  tone?: number;
  /** `N` of the `pwmchipN` to use instead of the one found for `pin` (`--pwm-chip`). Default: found by the controller's device name. */
  chip?: number;
  /** Channel of the chip to use instead of the pin's (`--pwm-channel`). Default: the pin's channel on that controller. */
  channel?: number;
  /** Where `class/pwm` is read. Default: env `SKETCH_SYSFS_ROOT`, else `/sys`. */
  sysfsRoot?: string;
  /** Longest wait for `pwmX/` after the export, ms (see the file's header). Default {@link EXPORT_WAIT_MS}. */
  exportWaitMs?: number;
  /** File access. Default: node:fs, synchronous. */
  io?: PwmIo;
  /**
   * Lease in ms (like Klipper's `max_duration`, as `openOutput`'s `lease`): a tone left sounding
   * this long without a refresh from this process — its event loop blocked, or the process
   * stopped — is silenced by the guardian (`enable` 0; the channel stays exported, and the next
   * `write(1)` sounds it again). This process refreshes on its own, every quarter of the lease,
   * while its event loop runs. A whole number from 0 to 86 400 000 (one day); default 0, no
   * lease. Has no effect without a guardian.
   */
  lease?: number;
  /**
   * Guards the channel against the death of this process (./guardian.ts): on SIGKILL, the OOM
   * killer or a crash, the guardian writes `0` to `enable`, then the channel to the chip's
   * `unexport`. Default: the process's shared guardian (`systemGuardian()`) when node:fs does
   * the writes; none when `io` is replaced (pass one explicitly). `false`: none.
   */
  guardian?: PinGuardian | false;
  /** Where the guardian's lines go (it could not start, or died while the channel is held). Default `console.log`. */
  log?: (line: string) => void;
}

/**
 * One hardware PWM channel driving a passive buzzer. `write(1)` sounds the tone (a square wave
 * at `hz`, 50 % duty), `write(0)` disables the channel; it starts, and ends, disabled.
 * Everything but {@link openPwm} is synchronous.
 */
export interface PwmOutput {
  /** BCM number. */
  readonly pin: number;
  /** The chip directory, e.g. `pwmchip0`. */
  readonly chip: string;
  /** The channel (`pwmX`). */
  readonly channel: number;
  /** The tone, Hz. */
  readonly hz: number;
  /** True once `close()` ran (directly or through the safe-state hooks). */
  readonly closed: boolean;
  /**
   * Sets the tone, Hz, at once (also while it sounds): writes `period` (1e9 / hz ns, rounded)
   * and `duty_cycle` (half of it, rounded down) in the order the kernel accepts.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` outside {@link MIN_TONE_HZ} … {@link MAX_TONE_HZ},
   *   `SKETCH_ERR_CLOSED` after `close()`, `SKETCH_ERR_GPIO_EXPORT` when a write fails.
   */
  tone(hz: number): void;
  /**
   * 1 = sound (`enable` 1), 0 = silence (`enable` 0). The guardian is told before a 1 (its lease
   * starts) and after a 0.
   * @throws SketchError `SKETCH_ERR_BAD_MESSAGE` for another value, `SKETCH_ERR_CLOSED` after
   *   `close()`, `SKETCH_ERR_GPIO_EXPORT` when the write fails.
   */
  write(value: Bit): void;
  /** 1 while it sounds, read back from `enable`. @throws SketchError `SKETCH_ERR_CLOSED` after `close()`. */
  read(): Bit;
  /**
   * Silences (`enable` 0) and releases the channel (`unexport`), then releases it from the
   * guardian. Synchronous; safe to call twice.
   * @throws SketchError `SKETCH_ERR_GPIO_EXPORT` when a write fails (the channel is dropped
   *   from the safe-state registry anyway; when `enable` 0 failed it stays with the guardian,
   *   which tries again once this process ends).
   */
  close(): void;
}

/** Channel of each PWM pin, per controller kind (see the file's header for the sources). */
export const PWM_CHANNELS: Readonly<Record<Exclude<PwmControllerKind, 'other'>, Readonly<Record<number, number>>>> = {
  'bcm2835-pwm0': { 12: 0, 18: 0, 13: 1, 19: 1 },
  'rp1-pwm0': { 12: 0, 13: 1, 18: 2, 19: 3 },
};

/** The controller kind of a device name: Pi 0–4 PWM0 at …20c000, Pi 5 RP1 PWM0 at 1f00098000. */
export function pwmControllerKind(device: string): PwmControllerKind {
  if (device === '1f00098000.pwm') return 'rp1-pwm0';
  if (/^(?:20|3f|7e|fe)20c000\.pwm$/.test(device)) return 'bcm2835-pwm0';
  return 'other';
}

/**
 * Lists the chips under `SYSFS_ROOT/class/pwm/pwmchip*`, reading `npwm` and the `device` link.
 * Chips whose `npwm` cannot be read are left out.
 * @param sysfsRoot default {@link defaultSysfsRoot}.
 * @returns the chips by number, none when the directory does not exist.
 */
export function listPwmChips(sysfsRoot = defaultSysfsRoot()): PwmChip[] {
  const dir = path.join(sysfsRoot, 'class', 'pwm');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const chips: PwmChip[] = [];
  for (const name of names.filter((n) => /^pwmchip\d+$/.test(n))) {
    try {
      const npwm = Number(fs.readFileSync(path.join(dir, name, 'npwm'), 'utf8').trim());
      if (!Number.isInteger(npwm) || npwm < 1) continue;
      let device = '';
      try {
        device = path.basename(fs.readlinkSync(path.join(dir, name, 'device')));
      } catch {
        // no device link: a chip we cannot identify
      }
      chips.push({ name, number: Number(name.slice('pwmchip'.length)), npwm, device, kind: pwmControllerKind(device) });
    } catch {
      // not a readable chip directory: skip it
    }
  }
  return chips.sort((a, b) => a.number - b.number);
}

/** The `config.txt` line that routes PWM to `pin` (README: func 4 = Alt0 for 12/13, 2 = Alt5 for 18/19). */
function overlayHint(pin: number): string {
  return `add dtoverlay=pwm,pin=${pin},func=${pin === 12 || pin === 13 ? 4 : 2} to /boot/firmware/config.txt and reboot`;
}

/**
 * Chooses the chip and channel for BCM `pin`: the Pi 5's RP1 PWM0, else the Pi 0–4's PWM0,
 * each with the channel of {@link PWM_CHANNELS}. `chip` / `channel` override the choice.
 * @param sysfsRoot default {@link defaultSysfsRoot}.
 * @throws SketchError `SKETCH_ERR_PWM_UNAVAILABLE` when the pin has no hardware PWM, no chip
 *   drives it (the message gives the `dtoverlay` line), or `chip` does not exist;
 *   `SKETCH_ERR_INVALID_OPTION` for a `channel` that is not on the chip, or a `chip`/`channel`
 *   that is not a whole number ≥ 0.
 */
export function findPwmChannel(
  pin: number,
  sysfsRoot = defaultSysfsRoot(),
  override: { chip?: number; channel?: number } = {},
): PwmChannel {
  for (const [flag, value] of [['--pwm-chip', override.chip], ['--pwm-channel', override.channel]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw errors.INVALID_OPTION(`${flag} must be an integer ≥ 0, got ${String(value)}`);
    }
  }
  const dir = path.join(sysfsRoot, 'class', 'pwm');
  const chips = listPwmChips(sysfsRoot);
  let chip: PwmChip | undefined;
  if (override.chip !== undefined) {
    chip = chips.find((c) => c.number === override.chip);
    if (!chip) {
      const seen = chips.length ? `it has ${chips.map((c) => c.name).join(', ')}` : 'it has no PWM chips';
      throw errors.PWM_UNAVAILABLE(`--pwm-chip ${override.chip}: no ${path.join(dir, `pwmchip${override.chip}`)} (${seen})`);
    }
  } else {
    const known = [12, 13, 18, 19];
    if (!known.includes(pin)) {
      throw errors.PWM_UNAVAILABLE(`GPIO ${pin} has no hardware PWM on a Raspberry Pi: wire the buzzer to GPIO 12, 13, 18 or 19 and give --pin`);
    }
    chip = chips.find((c) => c.kind === 'rp1-pwm0') ?? chips.find((c) => c.kind === 'bcm2835-pwm0');
    if (!chip) {
      const seen = chips.length ? `found only ${chips.map((c) => `${c.name} = ${c.device || 'no device link'}`).join(', ')}` : 'no PWM chips there';
      throw errors.PWM_UNAVAILABLE(
        `no Raspberry Pi PWM0 for GPIO ${pin} under ${dir} (${seen}): ${overlayHint(pin)} (--gpio virtual simulates the buzzer)`,
      );
    }
  }
  let channel = override.channel;
  if (channel === undefined) {
    channel = chip.kind === 'other' ? undefined : PWM_CHANNELS[chip.kind][pin];
    if (channel === undefined) {
      throw errors.PWM_UNAVAILABLE(`${chip.name} (${chip.device || 'no device link'}) has no known channel for GPIO ${pin}: give --pwm-channel`);
    }
  }
  if (channel >= chip.npwm) {
    throw errors.INVALID_OPTION(`--pwm-channel must be from 0 to ${chip.npwm - 1} on ${chip.name} (npwm ${chip.npwm}), got ${channel}`);
  }
  return { chip, channel };
}

/**
 * The period of a tone, ns: 1e9 / hz rounded to the nearest ns (440 Hz: 2 272 727).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for a tone that is not a number from
 *   {@link MIN_TONE_HZ} to {@link MAX_TONE_HZ}.
 */
export function tonePeriodNs(hz: number): number {
  if (typeof hz !== 'number' || !Number.isFinite(hz) || hz < MIN_TONE_HZ || hz > MAX_TONE_HZ) {
    const got = typeof hz === 'number' ? (Number.isNaN(hz) ? 'a non-number' : String(hz)) : JSON.stringify(hz);
    throw errors.INVALID_OPTION(`--tone must be a number from ${MIN_TONE_HZ} to ${MAX_TONE_HZ} (Hz), got ${got}`);
  }
  return Math.round(1e9 / hz);
}

/** node:fs, synchronous. */
const fsIo: PwmIo = {
  read: (file) => fs.readFileSync(file, 'utf8'),
  write: (file, text) => fs.writeFileSync(file, text),
  writable: (file) => {
    try {
      fs.accessSync(file, fs.constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
};

const errno = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** The guardian of a channel, with what it needs. */
interface Guarded {
  guardian: PinGuardian;
  leaseMs: number;
  log: (line: string) => void;
}

class SysfsPwm implements PwmOutput {
  readonly pin: number;
  readonly chip: string;
  readonly channel: number;
  #hz: number;
  #closed = false;
  #drop?: () => void;
  #guard?: PinGuard;
  readonly #guarded?: Guarded;
  readonly #io: PwmIo;
  readonly #chipDir: string;
  readonly #dir: string;
  /** The period and duty cycle last written (or read at open), ns. */
  #period = 0;
  #duty = 0;

  constructor(pin: number, at: PwmChannel, chipDir: string, hz: number, io: PwmIo, guarded?: Guarded) {
    this.pin = pin;
    this.#guarded = guarded;
    this.chip = at.chip.name;
    this.channel = at.channel;
    this.#hz = hz;
    this.#io = io;
    this.#chipDir = chipDir;
    this.#dir = path.join(chipDir, `pwm${at.channel}`);
  }

  /**
   * Silences the freshly exported (or taken over) channel, sets polarity and tone, hands it to
   * the guardian and registers it.
   */
  start(): void {
    this.#write('enable', '0');
    this.#period = this.#readNumber('period');
    this.#duty = this.#readNumber('duty_cycle');
    // A tone is symmetric, but a channel left inversed by someone else would idle high.
    if (this.#io.writable(path.join(this.#dir, 'polarity')) && this.#io.read(path.join(this.#dir, 'polarity')).trim() !== 'normal') {
      this.#write('polarity', 'normal');
    }
    this.#apply(this.#hz);
    // Configured and silent: from here on, the guardian silences it if we die.
    const g = this.#guarded;
    this.#guard = g?.guardian.hold({ kind: 'pwm', pin: this.pin, dir: path.resolve(this.#dir), leaseMs: g.leaseMs }, g.log);
    this.#drop = holdPin({ pin: this.pin, release: () => this.close() });
  }

  get hz(): number {
    return this.#hz;
  }

  get closed(): boolean {
    return this.#closed;
  }

  tone(hz: number): void {
    tonePeriodNs(hz); // checks before the closed state, as the option would be
    if (this.#closed) throw errors.CLOSED(`PWM on GPIO ${this.pin}`);
    this.#apply(hz);
    this.#hz = hz;
  }

  write(value: Bit): void {
    if (value !== 0 && value !== 1) {
      throw errors.BAD_MESSAGE(`PWM on GPIO ${this.pin} takes 0 (silent) or 1 (tone), got ${JSON.stringify(value)}`);
    }
    if (this.#closed) throw errors.CLOSED(`PWM on GPIO ${this.pin}`);
    if (value === 1) this.#guard?.active(true); // the lease runs before the tone sounds
    this.#write('enable', String(value));
    if (value === 0) this.#guard?.active(false);
  }

  read(): Bit {
    if (this.#closed) throw errors.CLOSED(`PWM on GPIO ${this.pin}`);
    return this.#readNumber('enable') === 1 ? 1 : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let silent = false;
    try {
      this.#write('enable', '0');
      silent = true;
    } finally {
      try {
        this.unexport();
      } finally {
        // After the sketch's own enable 0 and unexport. One that may still sound stays guarded.
        if (silent) this.#guard?.release();
        this.#drop?.();
      }
    }
  }

  /** Writes the channel number to the chip's `unexport` (also used when `start()` fails). */
  unexport(): void {
    try {
      this.#io.write(path.join(this.#chipDir, 'unexport'), String(this.channel));
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `unexporting ${this.chip}/pwm${this.channel} failed: ${oneLine(err)}`, err);
    }
  }

  /** Period and duty for `hz`, each written in the order that keeps duty ≤ period at every step. */
  #apply(hz: number): void {
    const period = tonePeriodNs(hz);
    const duty = Math.floor(period / 2);
    if (period >= this.#period) {
      if (period !== this.#period) this.#write('period', String(period));
      this.#period = period;
      if (duty !== this.#duty) this.#write('duty_cycle', String(duty));
      this.#duty = duty;
    } else {
      if (duty !== this.#duty) this.#write('duty_cycle', String(duty));
      this.#duty = duty;
      this.#write('period', String(period));
      this.#period = period;
    }
  }

  #write(file: string, text: string): void {
    try {
      this.#io.write(path.join(this.#dir, file), text);
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `writing ${text} to ${this.chip}/pwm${this.channel}/${file} failed: ${oneLine(err)}`, err);
    }
  }

  #readNumber(file: string): number {
    try {
      const n = Number(this.#io.read(path.join(this.#dir, file)).trim());
      return Number.isFinite(n) ? n : 0;
    } catch (err) {
      throw errors.GPIO_EXPORT(this.pin, `reading ${this.chip}/pwm${this.channel}/${file} failed: ${oneLine(err)}`, err);
    }
  }
}

/**
 * Opens the hardware PWM channel of BCM `pin` for tones: finds its chip and channel
 * ({@link findPwmChannel}), exports it (a channel still exported, by a run that was killed, is
 * taken over), waits for `pwmX/` (see the file's header), disables it, sets polarity `normal`,
 * period and duty cycle for `tone`, hands it to the guardian (`options.guardian`: it
 * silences and unexports the channel if this process dies without doing so; when it cannot
 * start, one line goes to `log` and the channel works unguarded) and registers it with the
 * safe-state registry.
 * @throws SketchError
 *   `SKETCH_ERR_INVALID_OPTION` for a tone outside {@link MIN_TONE_HZ} … {@link MAX_TONE_HZ},
 *   a bad `exportWaitMs`, `lease`, `chip` or `channel`;
 *   `SKETCH_ERR_PWM_UNAVAILABLE` when no chip drives the pin (the message says which
 *   `dtoverlay` line to add), the export is refused as busy (EBUSY: audio or another driver
 *   holds the channel), or `pwmX/` does not appear in time;
 *   `SKETCH_ERR_GPIO_PERMISSION` on EACCES/EPERM, or when `pwmX/` stays unwritable;
 *   `SKETCH_ERR_GPIO_EXPORT` when another write fails.
 */
export async function openPwm(options: PwmOptions = {}): Promise<PwmOutput> {
  const { pin = 18, tone = DEFAULT_TONE_HZ, exportWaitMs = EXPORT_WAIT_MS } = options;
  if (!Number.isInteger(pin) || pin < 0) throw errors.GPIO_PIN_RANGE(pin);
  tonePeriodNs(tone);
  if (!Number.isFinite(exportWaitMs) || exportWaitMs < 0) {
    throw errors.INVALID_OPTION(`exportWaitMs must be a number of ms ≥ 0, got ${String(exportWaitMs)}`);
  }
  const { lease = 0 } = options;
  if (!Number.isInteger(lease) || lease < 0 || lease > MAX_LEASE_MS) {
    throw errors.INVALID_OPTION(`--lease must be an integer from 0 to ${MAX_LEASE_MS} (ms; 0 = no lease), got ${String(lease)}`);
  }
  const io = options.io ?? fsIo;
  // The shared guardian writes the channel's files as node:fs does; a replaced io gets none unless given one.
  const guardian = options.guardian ?? (options.io ? false : systemGuardian());
  const log = options.log ?? ((line: string) => console.log(line));
  const sysfsRoot = options.sysfsRoot ?? defaultSysfsRoot();
  const at = findPwmChannel(pin, sysfsRoot, { chip: options.chip, channel: options.channel });
  const chipDir = path.join(sysfsRoot, 'class', 'pwm', at.chip.name);
  const dir = path.join(chipDir, `pwm${at.channel}`);
  const where = `${at.chip.name}/pwm${at.channel}`;
  const enable = path.join(dir, 'enable');

  if (!fs.existsSync(dir)) {
    try {
      io.write(path.join(chipDir, 'export'), String(at.channel));
    } catch (err) {
      throw exportError(pin, where, err);
    }
  }
  const deadline = Date.now() + exportWaitMs;
  while (!io.writable(enable)) {
    if (Date.now() >= deadline) {
      if (fs.existsSync(enable)) {
        throw errors.GPIO_PERMISSION(pin, new Error(`${where}/enable is not writable ${exportWaitMs} ms after the export`));
      }
      throw errors.PWM_UNAVAILABLE(`${where} did not appear within ${exportWaitMs} ms of the export (${path.join(chipDir, 'export')})`);
    }
    await sleep(EXPORT_POLL_MS);
  }
  const pwm = new SysfsPwm(pin, at, chipDir, tone, io, guardian ? { guardian, leaseMs: lease, log } : undefined);
  try {
    pwm.start();
  } catch (err) {
    try {
      pwm.unexport();
    } catch {
      // the first error says more
    }
    throw err;
  }
  return pwm;
}

function exportError(pin: number, where: string, err: unknown): SketchError {
  if (err instanceof SketchError) return err;
  switch (errno(err)) {
    case 'EACCES':
    case 'EPERM':
      return errors.GPIO_PERMISSION(pin, err);
    case 'EBUSY':
      return errors.PWM_UNAVAILABLE(
        `${where} is busy: a kernel driver holds it (the audio jack uses both PWM channels: dtparam=audio=off in /boot/firmware/config.txt, or use another pin)`,
      );
    default:
      return errors.GPIO_EXPORT(pin, `exporting ${where} failed: ${oneLine(err)}`, err);
  }
}
