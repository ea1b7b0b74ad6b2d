/**
 * The GPIO guardian process: started by a sketch that drives sysfs outputs, chardev output
 * lines or sysfs PWM channels (./guardian.ts), it turns those outputs off when the sketch can no longer do it —
 * SIGKILL, the OOM killer, a crash of Node itself — and, with a lease, when the sketch hangs.
 * See docs/API.md (GPIO, Guardian).
 *
 * It reads line messages on stdin, a pipe whose other end only the sketch holds:
 *
 *   hold <sysfs> <inactiveLevel> <activeLow> [<leaseMs> [<bcm>]]   guard gpio<sysfs>
 *   hold-line <chip>:<offset> <inactiveLevel> <activeLow> <leaseMs> <flags> <fd> <consumer> <pin>
 *                                                                   guard a chardev output line
 *   hold-pwm <channelDir> <leaseMs> <bcm>                           guard a PWM channel (pwmchipN/pwmX)
 *   release <id>                                                    the sketch released it: forget it
 *   active <id>                                                     driven active: (re)start its lease
 *   inactive <id>                                                   driven inactive: stop its lease
 *   refresh                                                         the sketch is alive: restart every lease
 *
 * `<id>` is a sysfs number, `<chip>:<offset>` for a line (`/dev/gpiochip0:18`), or a PWM
 * channel's directory (`/sys/class/pwm/pwmchip0/pwm2`: absolute, normalized, named `pwmX` in a
 * `pwmchipN`; encodeURI'd, so an ordinary path is sent as it is).
 * `inactiveLevel` is the physical level (0 or 1): sysfs writes it to `value`, which holds the
 * physical level because sketchnet keeps the kernel's `active_low` at 0; chardev lines are
 * requested without `GPIO_V2_LINE_FLAG_ACTIVE_LOW`, so there too values are physical levels.
 * `activeLow` (0 or 1), `bcm` and `pin` only appear in log lines; `leaseMs` 0 (the default)
 * means no lease. For a line, `flags` are the sketch's `LineFlag` bits (drive and bias are
 * kept), `fd` the number of its line request fd in the sketch (for the lease), `consumer` its
 * consumer label; `consumer` and `pin` are percent-encoded (encodeURIComponent). Malformed
 * lines, and lines naming a pin it does not hold, are ignored.
 *
 * When the pipe closes (end of file or error), it writes each held sysfs pin's inactive level
 * to `<gpioDir>/gpio<sysfs>/value`, then `<sysfs>` to `<gpioDir>/unexport`; it requests each
 * held line as an output at its inactive level (consumer `sketchnet-guardian`), retrying every
 * {@link LINE_RETRY_MS} ms while the line is busy (the dead sketch's fds may be closed a moment
 * after its pipe) for up to {@link LINE_BUSY_MS} ms, and releases it again (Raspberry Pi
 * kernels keep the level; upstream kernels and `dtparam=strict_gpiod` make it an input, whose
 * pull decides); it writes `0` to each held PWM channel's `enable`, then `X` to its chip's
 * `unexport`. Then it logs one line on stderr and exits 0; with nothing held it exits at
 * once, silently. A sysfs pin whose `value` file (a PWM channel whose `enable` file) does not
 * exist was already unexported by the sketch and is left alone. When an active pin's lease
 * runs out (no `active` or `refresh` for `leaseMs`), it drives the inactive level — sysfs:
 * through `value`; PWM: `enable` 0, the channel stays exported; chardev: through the sketch's
 * own line request, taken with pidfd_getfd(2) (the line stays the sketch's) — and logs one
 * line.
 *
 * It never creates a file (files are opened with O_WRONLY, never O_CREAT), touches only the
 * pins it was told about, and loads nothing but Node's own modules until a chardev line is
 * held (then ./gpio-uapi.ts, ./gpio-chardev.ts and ./gpio-syscalls.ts, which loads koffi). It ignores SIGINT,
 * SIGTERM and SIGHUP: it ends with its pipe (or SIGKILL).
 * File format: the kernel's Documentation/admin-guide/gpio/sysfs.rst (one number per write);
 * chardev: Documentation/userspace-api/gpio/chardev.rst; PWM: Documentation/ABI/testing/sysfs-class-pwm.
 *
 * Usage: node guardian-process.js [--gpio-dir /sys/class/gpio] [--sketch-pid PID] [--syscalls MODULE]
 * `--syscalls` is a test seam: a module whose export `syscalls` (a GpioSyscalls, or a function
 * returning one) replaces the real syscalls; it is loaded before `ready`.
 * Prints `ready` on stdout once it reads its pipe. Runs only when started as a script, so
 * importing it does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GpioSyscalls } from './gpio-uapi.js';

/** Where onoff exports pins, and the guardian's default `--gpio-dir`. */
export const GUARDIAN_GPIO_DIR = '/sys/class/gpio';

/** The consumer label of the guardian's own line requests (`gpioinfo` shows it while it holds one). */
export const GUARDIAN_CONSUMER = 'sketchnet-guardian';

/** How long the guardian keeps asking for a busy line after the pipe closed, in ms. */
export const LINE_BUSY_MS = 150;

/** Pause between two requests of a busy line, in ms. */
export const LINE_RETRY_MS = 5;

/** What a held pin of any kind carries. */
interface HeldBase {
  /** The protocol's id: the sysfs number, `<chip>:<offset>`, or a PWM channel's directory as sent. */
  key: string;
  leaseMs: number;
  /** Lease timer, running while the pin is active and `leaseMs` > 0. */
  timer?: NodeJS.Timeout;
}

/** One sysfs pin a {@link GuardianCore} holds. */
interface HeldSysfs extends HeldBase {
  kind: 'sysfs';
  inactiveLevel: 0 | 1;
  activeLow: boolean;
  sysfs: number;
  bcm?: number;
}

/** One chardev output line a {@link GuardianCore} holds. */
interface HeldLine extends HeldBase {
  kind: 'chardev';
  inactiveLevel: 0 | 1;
  activeLow: boolean;
  chip: string;
  offset: number;
  /** The sketch's `LineFlag` bits. */
  flags: number;
  /** The sketch's line request fd (in the sketch's process). */
  fd: number;
  consumer: string;
  /** The pin as the sketch named it, for log lines. */
  pin: string;
}

/** One sysfs PWM channel a {@link GuardianCore} holds: inactive is `enable` 0. */
interface HeldPwm extends HeldBase {
  kind: 'pwm';
  /** The channel's directory, `…/pwmchipN/pwmX`. */
  dir: string;
  /** `…/pwmchipN`, whose `unexport` takes the channel. */
  chipDir: string;
  /** `X`. */
  channel: number;
  bcm: number;
}

type Held = HeldSysfs | HeldLine | HeldPwm;

type Uapi = typeof import('./gpio-uapi.js');
type Chardev = typeof import('./gpio-chardev.js');

/** Options of {@link GuardianCore}. */
export interface GuardianCoreOptions {
  /** The sysfs GPIO directory holding `unexport` and `gpioN/value`. */
  gpioDir: string;
  /** The sketch's process id, for log lines (and, for a lease on a line, whose fd to take). */
  sketchPid: number;
  /** Receives the guardian's log lines (the process passes one line to stderr). */
  log: (line: string) => void;
  /**
   * Gives the syscalls for chardev lines, on the first `hold-line`: the syscalls, or one line
   * saying why there are none. Default: the real ones (./gpio-syscalls.ts, through koffi).
   */
  loadSyscalls?: () => GpioSyscalls | string | Promise<GpioSyscalls | string>;
}

const NUMBER = /^\d{1,6}$/;
const BIT = /^[01]$/;
/** `<chip>:<offset>`: the offset follows the last colon. */
const LINE_ID = /^(\/[A-Za-z0-9._:/+-]{1,200}):(\d{1,5})$/;
/** What encodeURIComponent leaves, and the `%XX` it makes. */
const ENCODED = /^[A-Za-z0-9%._~!*'()-]{1,300}$/;
const BUSY = Symbol('busy');

/**
 * A `hold-pwm` directory: decoded (decodeURI), absolute, normalized (no `..`, no `//`, no
 * trailing `/`), named `pwmX` inside a `pwmchipN`; else undefined.
 */
function pwmChannelDir(token: string): { dir: string; chipDir: string; channel: number } | undefined {
  if (token.length > 1000 || !token.startsWith('/')) return undefined;
  let dir: string;
  try {
    dir = decodeURI(token);
  } catch {
    return undefined;
  }
  if (dir.includes('\0') || path.normalize(dir) !== dir || dir.endsWith('/')) return undefined;
  const m = /^pwm(\d{1,5})$/.exec(path.basename(dir));
  const chipDir = path.dirname(dir);
  if (!m || !/^pwmchip\d{1,6}$/.test(path.basename(chipDir))) return undefined;
  return { dir, chipDir, channel: Number(m[1]) };
}

/**
 * The guardian's state and actions, without the process around it (the process feeds it the
 * lines from its pipe and calls {@link abandon} at end of file, once {@link settled}). Writes
 * sysfs files directly; requests chardev lines through the syscalls it loads.
 */
export class GuardianCore {
  readonly #held = new Map<string, Held>();
  readonly #options: GuardianCoreOptions;
  #loading?: Promise<void>;
  #sys?: GpioSyscalls | string;
  #uapi?: Uapi;
  #chardev?: Chardev;
  /** Whether this process can take the sketch's fds (pidfd_getfd): true, why not, or undefined before the first try. */
  #reach?: true | string;

  /** Holds nothing yet; nothing is read or written until lines arrive. */
  constructor(options: GuardianCoreOptions) {
    this.#options = options;
  }

  /** The ids held (sysfs numbers, `<chip>:<offset>` strings for lines, directories for PWM channels), in the order they were first held. */
  get held(): Array<number | string> {
    return [...this.#held.values()].map(idOf);
  }

  /** Resolves once the syscalls a `hold-line` asked for are loaded (at once when none was asked for). */
  settled(): Promise<void> {
    return this.#loading ?? Promise.resolve();
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
    if (verb === 'hold-line') return this.#holdLine(args);
    if (verb === 'hold-pwm') return this.#holdPwm(args);
    const id = args[0];
    if (id === undefined) return false;
    if (verb === 'hold') {
      if (!NUMBER.test(id)) return false;
      const [, level, low, lease = '0', bcm] = args;
      if (!BIT.test(level ?? '') || !BIT.test(low ?? '') || !NUMBER.test(lease) || args.length > 5) return false;
      if (bcm !== undefined && !NUMBER.test(bcm)) return false;
      const sysfs = Number(id);
      this.#put({
        kind: 'sysfs',
        key: String(sysfs),
        sysfs,
        inactiveLevel: level === '1' ? 1 : 0,
        activeLow: low === '1',
        leaseMs: Number(lease),
        bcm: bcm === undefined ? undefined : Number(bcm),
      });
      return true;
    }
    const key = NUMBER.test(id) ? String(Number(id)) : id;
    const h = this.#held.get(key);
    if (!h || args.length !== 1) return false;
    if (verb === 'release') this.#drop(key);
    else if (verb === 'active') {
      if (h.leaseMs > 0) this.#arm(h);
    } else if (verb === 'inactive') {
      clearTimeout(h.timer);
      h.timer = undefined;
    } else return false;
    return true;
  }

  /**
   * The pipe closed: drives every held sysfs pin to its inactive level and unexports it,
   * disables (`enable` 0) and unexports every held PWM channel, requests every held line at its
   * inactive level and releases it (retrying a busy line for up to {@link LINE_BUSY_MS} ms,
   * blocking), then logs one line (none when nothing was held or every sysfs pin and PWM
   * channel was already unexported). Call it once {@link settled}. Never throws.
   * @returns the ids it acted on (sysfs numbers, `<chip>:<offset>` for lines, directories for PWM channels).
   */
  abandon(): Array<number | string> {
    const started = performance.now();
    const parts = new Map<Held, string>();
    const lines: HeldLine[] = [];
    for (const h of this.#held.values()) {
      clearTimeout(h.timer);
      if (h.kind === 'chardev') {
        lines.push(h);
        continue;
      }
      if (h.kind === 'pwm') {
        const part = this.#silence(h);
        if (part !== undefined) parts.set(h, part);
        continue;
      }
      const what = `${describe(h)} -> ${h.inactiveLevel} (inactive${h.activeLow ? ', active low' : ''})`;
      try {
        writeAttribute(this.#valueFile(h), `${h.inactiveLevel}\n`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // already unexported by the sketch
        parts.set(h, `${describe(h)}: cannot write ${h.inactiveLevel} to value (${firstLine(err)})`);
        continue; // a pin that refused its level stays exported, as it is
      }
      try {
        writeAttribute(path.join(this.#options.gpioDir, 'unexport'), `${h.sysfs}\n`);
        parts.set(h, `${what}, unexported`);
      } catch (err) {
        parts.set(h, `${what}, but not unexported (${firstLine(err)})`);
      }
    }
    if (lines.length > 0) this.#abandonLines(lines, parts);
    const acted = [...this.#held.values()].filter((h) => parts.has(h));
    this.#held.clear();
    if (acted.length > 0) {
      const ms = Math.round(performance.now() - started);
      this.#options.log(
        `gpio guardian: process ${this.#options.sketchPid} ended without releasing its outputs: ${acted.map((h) => parts.get(h)).join('; ')} (${ms} ms)`,
      );
    }
    return acted.map(idOf);
  }

  /**
   * Writes `0` to a PWM channel's `enable`, then its number to the chip's `unexport`: the log
   * part, or undefined when `enable` is gone (the sketch unexported it). A channel that refuses
   * `enable` 0 stays exported, as it is (as a sysfs pin that refuses its level does).
   */
  #silence(h: HeldPwm): string | undefined {
    try {
      writeAttribute(path.join(h.dir, 'enable'), '0\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return `${describe(h)}: cannot write 0 to enable (${firstLine(err)})`;
    }
    try {
      writeAttribute(path.join(h.chipDir, 'unexport'), `${h.channel}\n`);
      return `${describe(h)} -> enable 0 (silent), unexported`;
    } catch (err) {
      return `${describe(h)} -> enable 0 (silent), but not unexported (${firstLine(err)})`;
    }
  }

  #holdPwm(args: string[]): boolean {
    if (args.length !== 3) return false;
    const [id, lease, bcm] = args as [string, string, string];
    const at = pwmChannelDir(id);
    if (!at || !NUMBER.test(lease) || !NUMBER.test(bcm)) return false;
    this.#put({ kind: 'pwm', key: id, ...at, leaseMs: Number(lease), bcm: Number(bcm) });
    return true;
  }

  #holdLine(args: string[]): boolean {
    if (args.length !== 8) return false;
    const [id, level, low, lease, flags, fd, consumer, pin] = args as [string, string, string, string, string, string, string, string];
    const m = LINE_ID.exec(id);
    if (!m || m[1]!.split('/').includes('..')) return false;
    if (!BIT.test(level) || !BIT.test(low) || !NUMBER.test(lease) || !NUMBER.test(flags) || !NUMBER.test(fd)) return false;
    if (!ENCODED.test(consumer) || !ENCODED.test(pin)) return false;
    let decoded: [string, string];
    try {
      decoded = [decodeURIComponent(consumer), decodeURIComponent(pin)];
    } catch {
      return false;
    }
    const h: HeldLine = {
      kind: 'chardev',
      key: id,
      chip: m[1]!,
      offset: Number(m[2]),
      inactiveLevel: level === '1' ? 1 : 0,
      activeLow: low === '1',
      leaseMs: Number(lease),
      flags: Number(flags),
      fd: Number(fd),
      consumer: decoded[0],
      pin: decoded[1],
    };
    this.#put(h);
    this.#load();
    if (this.#uapi) this.#probe(h);
    return true;
  }

  #put(h: Held): void {
    this.#drop(h.key);
    this.#held.set(h.key, h);
  }

  /** Starts loading the syscalls and the uAPI encoders (once). */
  #load(): void {
    if (this.#loading) return;
    const load = this.#options.loadSyscalls ?? (async () => (await import('./gpio-syscalls.js')).systemSyscalls());
    this.#loading = (async () => {
      try {
        const [uapi, chardev, sys] = await Promise.all([import('./gpio-uapi.js'), import('./gpio-chardev.js'), load()]);
        this.#uapi = uapi;
        this.#chardev = chardev;
        this.#sys = sys;
      } catch (err) {
        this.#sys = `cannot load the GPIO syscalls: ${firstLine(err)}`;
      }
      for (const h of this.#held.values()) if (h.kind === 'chardev') this.#probe(h);
    })();
  }

  /**
   * For a leased line, finds out once whether this process can take the sketch's fds (the
   * lease needs it); when it cannot, logs one line and the leases of lines stay off.
   */
  #probe(h: HeldLine): void {
    if (h.leaseMs === 0 || this.#reach !== undefined || !this.#uapi) return;
    const sys = this.#sys;
    let why: string | undefined;
    if (typeof sys !== 'object') why = sys ?? 'no syscalls';
    else if (!sys.takeFd) why = "these syscalls cannot take another process's fd";
    else {
      try {
        sys.close(sys.takeFd(this.#options.sketchPid, h.fd));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EBADF' || code === 'ESRCH') return; // released or gone meanwhile: ask again with the next line
        why = firstLine(err);
        if (code === 'EPERM' || code === 'EACCES') why += '; pidfd_getfd needs ptrace access to the sketch: same user, kernel.yama.ptrace_scope 0 or 1';
        if (code === 'ENOSYS') why += '; pidfd_getfd needs Linux 5.6 or later';
      }
    }
    if (why === undefined) {
      this.#reach = true;
      return;
    }
    this.#reach = why;
    for (const l of this.#held.values()) {
      if (l.kind !== 'chardev') continue;
      clearTimeout(l.timer);
      l.timer = undefined;
    }
    this.#options.log(
      `gpio guardian: cannot reach the lines of process ${this.#options.sketchPid} (${why}): a lease cannot turn off a chardev output while it hangs; its death (SIGKILL, crash) is still covered`,
    );
  }

  /** Requests each line at its inactive level and releases it; a busy line is asked again every LINE_RETRY_MS ms for up to LINE_BUSY_MS ms. */
  #abandonLines(lines: HeldLine[], parts: Map<Held, string>): void {
    const sys = this.#sys;
    const uapi = this.#uapi;
    if (!uapi || typeof sys !== 'object') {
      for (const h of lines) parts.set(h, `${describe(h)}: cannot request the line (${sys ?? 'the GPIO syscalls did not load'})`);
      return;
    }
    const chips = new Map<string, number>();
    const busySince = new Map<HeldLine, number>();
    const started = performance.now();
    let pending = lines;
    for (;;) {
      const busy: HeldLine[] = [];
      for (const h of pending) {
        const outcome = this.#requestInactive(sys, uapi, h, chips);
        if (outcome !== BUSY) {
          const waited = busySince.get(h);
          parts.set(h, waited === undefined ? outcome : `${outcome} once free (busy for ${Math.round(performance.now() - waited)} ms)`);
          continue;
        }
        if (!busySince.has(h)) busySince.set(h, performance.now());
        busy.push(h);
      }
      pending = busy;
      if (pending.length === 0 || performance.now() - started >= LINE_BUSY_MS) break;
      sleepSync(LINE_RETRY_MS);
    }
    for (const h of pending) {
      let holder = '';
      try {
        const info = this.#chardev!.lineInfo(sys, chips.get(h.chip)!, h.offset);
        if (info.consumer) holder = ` (held by ${JSON.stringify(info.consumer)})`;
      } catch {
        // who holds it is only for the log line
      }
      parts.set(h, `${describe(h)}: still busy after ${LINE_BUSY_MS} ms${holder}, left as it is`);
    }
    for (const fd of chips.values()) closeQuietly(sys, fd);
  }

  /** One request of `h` as an output at its inactive level, released at once: the log part, or BUSY. */
  #requestInactive(sys: GpioSyscalls, uapi: Uapi, h: HeldLine, chips: Map<string, number>): string | typeof BUSY {
    let chipFd = chips.get(h.chip);
    if (chipFd === undefined) {
      try {
        chipFd = sys.open(h.chip);
      } catch (err) {
        return `${describe(h)}: cannot open ${h.chip} (${firstLine(err)})`;
      }
      chips.set(h.chip, chipFd);
    }
    const F = uapi.LineFlag;
    const kept = h.flags & (F.OPEN_DRAIN | F.OPEN_SOURCE | F.BIAS_PULL_UP | F.BIAS_PULL_DOWN | F.BIAS_DISABLED);
    const req = uapi.encodeLineRequest({
      offsets: [h.offset],
      consumer: GUARDIAN_CONSUMER,
      settings: [{ flags: F.OUTPUT | kept, output: h.inactiveLevel }],
    });
    try {
      sys.ioctl(chipFd, uapi.IOCTL.GPIO_V2_GET_LINE_IOCTL, req);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') return BUSY;
      return `${describe(h)}: cannot request the line (${firstLine(err)})`;
    }
    closeQuietly(sys, uapi.requestFd(req));
    return `${describe(h)} -> ${h.inactiveLevel} (inactive${h.activeLow ? ', active low' : ''}), released`;
  }

  #arm(h: Held): void {
    clearTimeout(h.timer);
    h.timer = undefined;
    if (h.kind === 'chardev' && typeof this.#reach === 'string') return; // said once, in #probe
    // When the lease runs out, the guardian first reads what is already in its pipe (the poll
    // phase runs before setImmediate's): if this process was the one busy past the lease (loading
    // koffi for its first line blocks it for ~500 ms under QEMU), the refreshes the sketch sent
    // meanwhile restart the lease, and only a sketch that really sent none is taken as hung.
    const timer = setTimeout(() => setImmediate(() => h.timer === timer && this.#held.get(h.key) === h && this.#expire(h)), h.leaseMs);
    h.timer = timer;
  }

  #expire(h: Held): void {
    h.timer = undefined;
    const who = `process ${this.#options.sketchPid}`;
    if (h.kind === 'chardev') return this.#expireLine(h, who);
    if (h.kind === 'pwm') {
      try {
        writeAttribute(path.join(h.dir, 'enable'), '0\n');
        this.#options.log(
          `gpio guardian: ${describe(h)} was active for ${h.leaseMs} ms with no refresh from ${who} (hung or stopped?): -> enable 0 (silent), still exported`,
        );
      } catch (err) {
        this.#options.log(`gpio guardian: ${describe(h)} lease of ${h.leaseMs} ms ran out, but writing 0 to enable failed (${firstLine(err)})`);
      }
      return;
    }
    try {
      writeAttribute(this.#valueFile(h), `${h.inactiveLevel}\n`);
      this.#options.log(
        `gpio guardian: ${describe(h)} was active for ${h.leaseMs} ms with no refresh from ${who} (hung or stopped?): -> ${h.inactiveLevel} (inactive), still exported`,
      );
    } catch (err) {
      this.#options.log(`gpio guardian: ${describe(h)} lease of ${h.leaseMs} ms ran out, but writing ${h.inactiveLevel} failed (${firstLine(err)})`);
    }
  }

  /**
   * A line's lease ran out: takes the sketch's own line request (pidfd_getfd) and sets the
   * inactive level through it; the line stays requested by the sketch. Before that, checks that
   * the line is still held, as an output, by the sketch's consumer (the sketch may have just
   * released it, its release message still in the pipe).
   */
  #expireLine(h: HeldLine, who: string): void {
    const sys = this.#sys;
    const uapi = this.#uapi;
    if (sys === undefined && this.#loading) {
      void this.#loading.then(() => this.#held.get(h.key) === h && this.#expireLine(h, who));
      return;
    }
    const failed = (why: string) =>
      this.#options.log(`gpio guardian: ${describe(h)} lease of ${h.leaseMs} ms ran out, but driving it to ${h.inactiveLevel} failed (${why})`);
    if (typeof sys !== 'object' || !uapi) return failed(typeof sys === 'string' ? sys : 'the GPIO syscalls did not load');
    if (!sys.takeFd) return failed("these syscalls cannot take another process's fd");
    let dup: number | undefined;
    let chipFd: number | undefined;
    try {
      chipFd = sys.open(h.chip);
      const info = this.#chardev!.lineInfo(sys, chipFd, h.offset);
      const F = uapi.LineFlag;
      if (!(info.flags & F.USED) || !(info.flags & F.OUTPUT) || info.consumer !== asKernelKeeps(h.consumer, uapi.GPIO_MAX_NAME_SIZE - 1)) return; // released: its message follows
      dup = sys.takeFd(this.#options.sketchPid, h.fd);
      const values = uapi.encodeLineValues(BigInt(h.inactiveLevel), 1n);
      sys.ioctl(dup, uapi.IOCTL.GPIO_V2_LINE_SET_VALUES_IOCTL, values);
    } catch (err) {
      return failed(firstLine(err));
    } finally {
      if (dup !== undefined) closeQuietly(sys, dup);
      if (chipFd !== undefined) closeQuietly(sys, chipFd);
    }
    this.#options.log(
      `gpio guardian: ${describe(h)} was active for ${h.leaseMs} ms with no refresh from ${who} (hung or stopped?): -> ${h.inactiveLevel} (inactive), still requested by it`,
    );
  }

  #drop(key: string): void {
    const h = this.#held.get(key);
    if (h) clearTimeout(h.timer);
    this.#held.delete(key);
  }

  #valueFile(h: HeldSysfs): string {
    return path.join(this.#options.gpioDir, `gpio${h.sysfs}`, 'value');
  }
}

/** A held output's id as {@link GuardianCore.held} lists it. */
function idOf(h: Held): number | string {
  return h.kind === 'sysfs' ? h.sysfs : h.kind === 'pwm' ? h.dir : h.key;
}

function describe(h: Held): string {
  if (h.kind === 'pwm') return `BCM ${h.bcm} (PWM ${path.basename(h.chipDir)}/pwm${h.channel})`;
  if (h.kind === 'chardev') return `${/^\d+$/.test(h.pin) ? `BCM ${h.pin}` : h.pin} (${h.chip} line ${h.offset})`;
  return h.bcm === undefined ? `sysfs ${h.sysfs}` : `BCM ${h.bcm} (sysfs ${h.sysfs})`;
}

/** A consumer label as line info reports it: cut to the `bytes` (31) a `struct gpio_v2_line_request` holds. */
function asKernelKeeps(consumer: string, bytes: number): string {
  return new TextDecoder().decode(new TextEncoder().encode(consumer).subarray(0, bytes));
}

function closeQuietly(sys: GpioSyscalls, fd: number): void {
  try {
    sys.close(fd);
  } catch {
    // nothing to do about it
  }
}

/** Blocks for `ms` (the guardian is about to exit: nothing else waits on its event loop). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
async function main(argv: string[]): Promise<void> {
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
  process.on('uncaughtException', (err) => {
    log(`gpio guardian: stopped by an error, outputs of process ${sketchPid} no longer guarded: ${firstLine(err)}`);
    process.exit(1);
  });
  // Its life is the pipe's: a stop that signals every process (systemd, pkill, shutdown) ends
  // the sketch, whose pipe then ends the guardian. Only SIGKILL ends it otherwise.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

  let loadSyscalls: GuardianCoreOptions['loadSyscalls'];
  const seam = option('--syscalls');
  if (seam) {
    const mod = (await import(pathToFileURL(path.resolve(seam)).href)) as { syscalls?: GpioSyscalls | (() => GpioSyscalls) };
    const sys = typeof mod.syscalls === 'function' ? mod.syscalls() : mod.syscalls;
    loadSyscalls = () => sys ?? `${seam} exports no syscalls`;
  }
  const core = new GuardianCore({ gpioDir: option('--gpio-dir') ?? GUARDIAN_GPIO_DIR, sketchPid, log, loadSyscalls });

  let partial = '';
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    // a partial last line is an incomplete message: ignored
    void core.settled().then(() => {
      core.abandon();
      process.exit(0);
    });
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    if (ended) return;
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

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) void main(process.argv.slice(2));
