/**
 * The GPIO guardian process: started by a sketch that drives sysfs outputs (./guardian.ts),
 * it turns those outputs off when the sketch can no longer do it — SIGKILL, the OOM killer, a
 * crash of Node itself — and, with a lease, when the sketch hangs. See docs/API.md (GPIO,
 * Guardian).
 *
 * It reads line messages on stdin, a pipe whose other end only the sketch holds:
 *
 *   hold <sysfs> <inactiveLevel> <activeLow> [<leaseMs> [<bcm>]]   guard gpio<sysfs>
 *   release <sysfs>                                                 the sketch released it: forget it
 *   active <sysfs>                                                  driven active: (re)start its lease
 *   inactive <sysfs>                                                driven inactive: stop its lease
 *   refresh                                                         the sketch is alive: restart every lease
 *
 * `inactiveLevel` is the physical level (0 or 1) to write to `value`, which holds the physical
 * level because sketchnet keeps the kernel's `active_low` at 0; `activeLow` (0 or 1) and `bcm`
 * only appear in log lines; `leaseMs` 0 (the default) means no lease. Malformed lines, and
 * lines naming a pin it does not hold, are ignored.
 *
 * When the pipe closes (end of file or error), it writes each held pin's inactive level to
 * `<gpioDir>/gpio<sysfs>/value`, then `<sysfs>` to `<gpioDir>/unexport`, logs one line on
 * stderr and exits 0; with nothing held it exits at once, silently. A pin whose `value` file
 * does not exist was already unexported by the sketch and is left alone. When an active pin's
 * lease runs out (no `active` or `refresh` for `leaseMs`), it writes the inactive level, keeps
 * the pin exported (the sketch may come back) and logs one line.
 *
 * It never creates a file (files are opened with O_WRONLY, never O_CREAT), touches only the
 * pins it was told about, and loads nothing but Node's own modules, so it starts fast. It
 * ignores SIGINT, SIGTERM and SIGHUP: it ends with its pipe (or SIGKILL).
 * File format: the kernel's Documentation/admin-guide/gpio/sysfs.rst (one number per write).
 *
 * Usage: node guardian-process.js [--gpio-dir /sys/class/gpio] [--sketch-pid PID]
 * Prints `ready` on stdout once it reads its pipe. Runs only when started as a script, so
 * importing it does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where onoff exports pins, and the guardian's default `--gpio-dir`. */
export const GUARDIAN_GPIO_DIR = '/sys/class/gpio';

/** One pin a {@link GuardianCore} holds. */
interface Held {
  sysfs: number;
  inactiveLevel: 0 | 1;
  activeLow: boolean;
  leaseMs: number;
  bcm?: number;
  /** Lease timer, running while the pin is active and `leaseMs` > 0. */
  timer?: NodeJS.Timeout;
}

/** Options of {@link GuardianCore}. */
export interface GuardianCoreOptions {
  /** The sysfs GPIO directory holding `unexport` and `gpioN/value`. */
  gpioDir: string;
  /** The sketch's process id, for log lines. */
  sketchPid: number;
  /** Receives the guardian's log lines (the process passes one line to stderr). */
  log: (line: string) => void;
}

const NUMBER = /^\d{1,6}$/;
const BIT = /^[01]$/;

/**
 * The guardian's state and actions, without the process around it (the process feeds it the
 * lines from its pipe and calls {@link abandon} at end of file). Writes sysfs files directly.
 */
export class GuardianCore {
  readonly #held = new Map<number, Held>();
  readonly #options: GuardianCoreOptions;

  /** Holds nothing yet; nothing is read or written until lines arrive. */
  constructor(options: GuardianCoreOptions) {
    this.#options = options;
  }

  /** The sysfs numbers held, in the order they were first held. */
  get held(): number[] {
    return [...this.#held.keys()];
  }

  /**
   * Acts on one protocol line (see the file's comment).
   * @returns false when the line was malformed or named a pin that is not held (it is ignored).
   */
  handle(line: string): boolean {
    const [verb, ...args] = line.trim().split(/\s+/);
    if (verb === 'refresh' && args.length === 0) {
      for (const h of this.#held.values()) if (h.timer) this.#arm(h);
      return true;
    }
    const n = args[0] !== undefined && NUMBER.test(args[0]) ? Number(args[0]) : undefined;
    if (n === undefined) return false;
    if (verb === 'hold') {
      const [, level, low, lease = '0', bcm] = args;
      if (!BIT.test(level ?? '') || !BIT.test(low ?? '') || !NUMBER.test(lease) || args.length > 5) return false;
      if (bcm !== undefined && !NUMBER.test(bcm)) return false;
      this.#drop(n);
      this.#held.set(n, {
        sysfs: n,
        inactiveLevel: level === '1' ? 1 : 0,
        activeLow: low === '1',
        leaseMs: Number(lease),
        bcm: bcm === undefined ? undefined : Number(bcm),
      });
      return true;
    }
    const h = this.#held.get(n);
    if (!h || args.length !== 1) return false;
    if (verb === 'release') this.#drop(n);
    else if (verb === 'active') {
      if (h.leaseMs > 0) this.#arm(h);
    } else if (verb === 'inactive') {
      clearTimeout(h.timer);
      h.timer = undefined;
    } else return false;
    return true;
  }

  /**
   * The pipe closed: drives every held pin to its inactive level and unexports it, then logs
   * one line (none when nothing was held or every pin was already unexported). Never throws.
   * @returns the sysfs numbers it acted on.
   */
  abandon(): number[] {
    const started = performance.now();
    const parts: string[] = [];
    const acted: number[] = [];
    for (const h of this.#held.values()) {
      clearTimeout(h.timer);
      const what = `${describe(h)} -> ${h.inactiveLevel} (inactive${h.activeLow ? ', active low' : ''})`;
      try {
        writeAttribute(this.#valueFile(h), `${h.inactiveLevel}\n`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // already unexported by the sketch
        parts.push(`${describe(h)}: cannot write ${h.inactiveLevel} to value (${firstLine(err)})`);
        acted.push(h.sysfs);
        continue; // a pin that refused its level stays exported, as it is
      }
      acted.push(h.sysfs);
      try {
        writeAttribute(path.join(this.#options.gpioDir, 'unexport'), `${h.sysfs}\n`);
        parts.push(`${what}, unexported`);
      } catch (err) {
        parts.push(`${what}, but not unexported (${firstLine(err)})`);
      }
    }
    this.#held.clear();
    if (parts.length > 0) {
      const ms = Math.round(performance.now() - started);
      this.#options.log(
        `gpio guardian: process ${this.#options.sketchPid} ended without releasing its outputs: ${parts.join('; ')} (${ms} ms)`,
      );
    }
    return acted;
  }

  #arm(h: Held): void {
    clearTimeout(h.timer);
    h.timer = setTimeout(() => this.#expire(h), h.leaseMs);
  }

  #expire(h: Held): void {
    h.timer = undefined;
    const who = `process ${this.#options.sketchPid}`;
    try {
      writeAttribute(this.#valueFile(h), `${h.inactiveLevel}\n`);
      this.#options.log(
        `gpio guardian: ${describe(h)} was active for ${h.leaseMs} ms with no refresh from ${who} (hung or stopped?): -> ${h.inactiveLevel} (inactive), still exported`,
      );
    } catch (err) {
      this.#options.log(`gpio guardian: ${describe(h)} lease of ${h.leaseMs} ms ran out, but writing ${h.inactiveLevel} failed (${firstLine(err)})`);
    }
  }

  #drop(n: number): void {
    const h = this.#held.get(n);
    if (h) clearTimeout(h.timer);
    this.#held.delete(n);
  }

  #valueFile(h: Held): string {
    return path.join(this.#options.gpioDir, `gpio${h.sysfs}`, 'value');
  }
}

function describe(h: Held): string {
  return h.bcm === undefined ? `sysfs ${h.sysfs}` : `BCM ${h.bcm} (sysfs ${h.sysfs})`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n', 1)[0] ?? '';
}

/** Writes a sysfs attribute as `echo TEXT > FILE` does, except that a missing file is an error (ENOENT), never created. */
function writeAttribute(file: string, text: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

/** The process: `argv` as after the script name. */
function main(argv: string[]): void {
  const option = (name: string) => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  const log = (line: string) => {
    try {
      fs.writeSync(2, line + '\n');
    } catch {
      // nowhere to log to: carry on
    }
  };
  const sketchPid = Number(option('--sketch-pid')) || process.ppid;
  const core = new GuardianCore({ gpioDir: option('--gpio-dir') ?? GUARDIAN_GPIO_DIR, sketchPid, log });
  process.on('uncaughtException', (err) => {
    log(`gpio guardian: stopped by an error, outputs of process ${sketchPid} no longer guarded: ${firstLine(err)}`);
    process.exit(1);
  });
  // Its life is the pipe's: a stop that signals every process (systemd, pkill, shutdown) ends
  // the sketch, whose pipe then ends the guardian. Only SIGKILL ends it otherwise.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

  let partial = '';
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    core.abandon(); // a partial last line is an incomplete message: ignored
    process.exit(0);
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) core.handle(line);
  });
  process.stdin.on('end', end).on('close', end).on('error', end);
  try {
    fs.writeSync(1, 'ready\n');
  } catch {
    // the sketch is already gone: the pipe's end of file follows
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
