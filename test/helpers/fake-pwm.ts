/**
 * A fake sysfs PWM tree in a temp directory, and an in-process fake kernel that serves it.
 * Format: the kernel's Documentation/ABI/testing/sysfs-class-pwm.
 *
 * - `fakePwmTree(chips)` makes `ROOT/class/pwm/pwmchipN/{npwm,export,unexport}` and the
 *   `device` link to `ROOT/devices/platform/…/<device>`, as a Raspberry Pi has them.
 * - `startFakePwmKernel(root)` plays the kernel's part: a channel number written to `export`
 *   becomes `pwmX/{period,duty_cycle,enable,polarity}` (`0`, `0`, `0`, `normal`), complete at
 *   once (built aside and renamed), after `exportDelayMs` (udev's delay) if given; one written
 *   to `unexport` removes `pwmX/`. The files are read on every fs.watch event and every 2 ms,
 *   then emptied, as test/helpers/fake-gpio-kernel.ts does for GPIO.
 *   Its `io` (for `openPwm({ io })`) writes through to the files but first refuses what the
 *   kernel refuses: a duty cycle above the period (EINVAL), an export of an exported channel
 *   (EBUSY) or of a channel ≥ npwm (EINVAL). It records each write as `pwmX/file value`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PwmIo } from '../../runtime/hardware/pwm.js';

export interface FakeChip {
  /** `pwmchipN`. */
  name: string;
  /** The controller's device name, e.g. `fe20c000.pwm`; empty for no `device` link. */
  device: string;
  npwm: number;
}

/** A Pi 4 with `dtoverlay=pwm`: PWM0 of the bcm2711 as pwmchip0. */
export const PI4_PWM: FakeChip[] = [{ name: 'pwmchip0', device: 'fe20c000.pwm', npwm: 2 }];
/** A Pi 5 with `dtoverlay=pwm`: the fan's RP1 PWM1 probed first as pwmchip0, RP1 PWM0 as pwmchip2. */
export const PI5_PWM: FakeChip[] = [
  { name: 'pwmchip0', device: '1f0009c000.pwm', npwm: 4 },
  { name: 'pwmchip2', device: '1f00098000.pwm', npwm: 4 },
];
/** A Pi 5 without the overlay: only the fan's PWM1. */
export const PI5_FAN_ONLY: FakeChip[] = [{ name: 'pwmchip0', device: '1f0009c000.pwm', npwm: 4 }];

/** Makes a sysfs root with these chips under `class/pwm` (none: an empty `class/pwm`). */
export function fakePwmTree(chips: FakeChip[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sketch-pwm-'));
  const classDir = path.join(root, 'class', 'pwm');
  fs.mkdirSync(classDir, { recursive: true });
  for (const chip of chips) {
    const dir = path.join(classDir, chip.name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'npwm'), `${chip.npwm}\n`);
    fs.writeFileSync(path.join(dir, 'export'), '');
    fs.writeFileSync(path.join(dir, 'unexport'), '');
    if (chip.device) {
      const device = path.join(root, 'devices', 'platform', 'axi', chip.device);
      fs.mkdirSync(device, { recursive: true });
      fs.symlinkSync(path.relative(dir, device), path.join(dir, 'device'));
    }
  }
  return root;
}

/** Creates `pwmchipN/pwmX/` as a killed run would have left it (exported, maybe enabled). */
export function leaveExported(root: string, chip: string, channel: number, files: Record<string, string>): void {
  const dir = path.join(root, 'class', 'pwm', chip, `pwm${channel}`);
  fs.mkdirSync(dir);
  const all = { period: '0', duty_cycle: '0', enable: '0', polarity: 'normal', ...files };
  for (const [file, value] of Object.entries(all)) fs.writeFileSync(path.join(dir, file), `${value}\n`);
}

/** Reads `pwmchipN/pwmX/file` (trimmed), or undefined when it does not exist. */
export function pwmFile(root: string, chip: string, channel: number, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(root, 'class', 'pwm', chip, `pwm${channel}`, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface FakePwmKernel {
  /** One line per operation: `export pwmchip0 0`, `unexport pwmchip0 0 period=… duty_cycle=… enable=…`. */
  readonly log: string[];
  /** Every write through `io`, in order: `pwm0/period 2272727`, `export 0`… */
  readonly writes: string[];
  /** File access that refuses what the kernel refuses (pass it as `openPwm({ io })`). */
  readonly io: PwmIo;
  /** Stops serving (the tree stays). */
  stop(): void;
}

const fail = (code: string, file: string) =>
  Object.assign(new Error(`${code}: write ${file}`), { code, errno: code === 'EBUSY' ? -16 : -22 });

/** Serves the tree under `root` until `stop()`. */
export function startFakePwmKernel(root: string, options: { exportDelayMs?: number } = {}): FakePwmKernel {
  const classDir = path.join(root, 'class', 'pwm');
  const log: string[] = [];
  const writes: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const chips = () => fs.readdirSync(classDir).filter((n) => /^pwmchip\d+$/.test(n));
  const read = (file: string) => fs.readFileSync(file, 'utf8').trim();

  const take = (file: string): number[] => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    if (text.trim() === '') return [];
    fs.writeFileSync(file, '');
    return text.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n >= 0);
  };

  const create = (chip: string, n: number) => {
    const dir = path.join(classDir, chip);
    const tmp = path.join(dir, `.pwm${n}.new`);
    fs.mkdirSync(tmp);
    for (const [file, value] of [['period', '0'], ['duty_cycle', '0'], ['enable', '0'], ['polarity', 'normal']] as const) {
      fs.writeFileSync(path.join(tmp, file), value + '\n');
    }
    fs.renameSync(tmp, path.join(dir, `pwm${n}`));
    log.push(`export ${chip} ${n}`);
  };

  const service = () => {
    for (const chip of chips()) {
      const dir = path.join(classDir, chip);
      for (const n of take(path.join(dir, 'unexport'))) {
        const pwm = path.join(dir, `pwm${n}`);
        if (!fs.existsSync(pwm)) {
          log.push(`unexport ${chip} ${n} EINVAL`);
          continue;
        }
        const f = (file: string) => read(path.join(pwm, file));
        const files = `period=${f('period')} duty_cycle=${f('duty_cycle')} enable=${f('enable')}`;
        fs.rmSync(pwm, { recursive: true });
        log.push(`unexport ${chip} ${n} ${files}`);
      }
      for (const n of take(path.join(dir, 'export'))) {
        if (fs.existsSync(path.join(dir, `pwm${n}`))) {
          log.push(`export ${chip} ${n} EBUSY`);
          continue;
        }
        if (!options.exportDelayMs) {
          create(chip, n);
          continue;
        }
        const t = setTimeout(() => {
          timers.delete(t);
          create(chip, n);
        }, options.exportDelayMs);
        timers.add(t);
      }
    }
  };

  const watchers = chips().map((chip) => fs.watch(path.join(classDir, chip), () => service()));
  const interval = setInterval(service, 2);

  const io: PwmIo = {
    read: (file) => fs.readFileSync(file, 'utf8'),
    writable: (file) => fs.existsSync(file),
    write(file, text) {
      const dir = path.dirname(file);
      const name = path.basename(file);
      const value = Number(text.trim());
      if (name === 'export') {
        const npwm = Number(read(path.join(dir, 'npwm')));
        if (!(value < npwm)) throw fail('EINVAL', file);
        if (fs.existsSync(path.join(dir, `pwm${value}`))) throw fail('EBUSY', file);
      }
      if (name === 'period' && value < Number(read(path.join(dir, 'duty_cycle')))) throw fail('EINVAL', file);
      if (name === 'duty_cycle' && value > Number(read(path.join(dir, 'period')))) throw fail('EINVAL', file);
      writes.push(`${/^pwm\d+$/.test(path.basename(dir)) ? `${path.basename(dir)}/` : ''}${name} ${text}`);
      fs.writeFileSync(file, text);
    },
  };

  return {
    log,
    writes,
    io,
    stop() {
      clearInterval(interval);
      for (const w of watchers) w.close();
      for (const t of timers) clearTimeout(t);
    },
  };
}
