/**
 * The sketch's side of the GPIO guardian: a small separate process (./guardian-process.ts)
 * that knows this process's outputs (sysfs pins, chardev lines and sysfs PWM channels) and
 * their inactive levels, and holds the read end of a pipe whose write end only this process
 * holds. When the pipe closes for any reason — SIGKILL, the OOM killer, a crash — the guardian
 * drives each output inactive (sysfs: and unexports it; chardev: requests the line at its
 * inactive level and releases it; PWM: writes `enable` 0 and unexports the channel) within
 * milliseconds, logs one line and exits. With a lease (Klipper's `max_duration`), an active
 * output this process stops refreshing — its event loop blocked, or the process stopped — is
 * turned off too. See docs/API.md (GPIO, Guardian).
 *
 * The safe-state hooks (./safe-state.ts) still do the work on every exit that can be caught;
 * the guardian covers the ones that cannot. Raspberry Pi kernels keep sysfs outputs driven
 * after their process dies (Documentation/admin-guide/gpio/sysfs.rst: an exported GPIO stays
 * exported until unexported), and chardev outputs driven after their request fd closes
 * (raspberrypi/linux#6117; `dtparam=strict_gpiod` turns them back into inputs instead). A sysfs
 * PWM channel left enabled keeps its waveform after its process dies: nothing writes its `enable`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { oneLine } from '../errors.js';
import { systemSyscalls } from './gpio-syscalls.js';
import { GUARDIAN_GPIO_DIR } from './guardian-process.js';

export { GUARDIAN_GPIO_DIR };

/** Longest lease accepted, in ms: one day. */
export const MAX_LEASE_MS = 86_400_000;

/** What a guardian must know to turn one output off by itself: a sysfs pin, a chardev line or a PWM channel. */
export type GuardedPin = GuardedSysfsPin | GuardedLine | GuardedPwm;

/** A sysfs output. */
export interface GuardedSysfsPin {
  readonly kind?: 'sysfs';
  /** BCM number, for log lines. */
  readonly pin: number;
  /** The pin's sysfs number: the guardian writes `<gpioDir>/gpio<sysfs>/value` and `<gpioDir>/unexport`. */
  readonly sysfs: number;
  /** The physical level that is inactive (1 when active low), written to `value` (the kernel's `active_low` is kept at 0). */
  readonly inactiveLevel: 0 | 1;
  /** Active is the low level; for log lines. */
  readonly activeLow: boolean;
  /**
   * Lease in ms: an active pin that is not refreshed for this long is driven inactive.
   * 0 = no lease. This process refreshes it on its own, every quarter of the lease, while its
   * event loop runs.
   */
  readonly leaseMs: number;
}

/** A chardev output line, requested by this process without the kernel's active-low flag. */
export interface GuardedLine {
  readonly kind: 'chardev';
  /** The pin as the sketch named it (BCM number or line name), for log lines. */
  readonly pin: number | string;
  /** The chip's device, e.g. `/dev/gpiochip0`. */
  readonly chip: string;
  /** The line's offset on the chip. */
  readonly offset: number;
  /** The physical level that is inactive (1 when active low). */
  readonly inactiveLevel: 0 | 1;
  /** Active is the low level; for log lines. */
  readonly activeLow: boolean;
  /** Lease in ms, as for sysfs (0 = none). On chardev it needs pidfd_getfd (see docs/API.md, Guardian). */
  readonly leaseMs: number;
  /** The request's `LineFlag` bits: the guardian keeps the drive and bias bits. */
  readonly flags: number;
  /** The line request's fd in this process (the lease drives the line through it). */
  readonly fd: number;
  /** The request's consumer label (the lease checks that the line is still this process's). */
  readonly consumer: string;
}

/** A sysfs PWM channel sounding a tone (./pwm.ts); active = enabled. */
export interface GuardedPwm {
  readonly kind: 'pwm';
  /** BCM number, for log lines. */
  readonly pin: number;
  /**
   * The channel's directory, absolute, e.g. `/sys/class/pwm/pwmchip0/pwm2`: its name is `pwmX`
   * and its parent's `pwmchipN`. The guardian writes `0` to `<dir>/enable`, then `X` to the
   * chip's `unexport`.
   */
  readonly dir: string;
  /** Lease in ms, as for sysfs (0 = none): on expiry the guardian writes `enable` 0; the channel stays exported. */
  readonly leaseMs: number;
}

/** One pin held by a {@link PinGuardian}. Neither method throws. */
export interface PinGuard {
  /**
   * Reports a write: `true` when the pin is being driven active (call it before the write: it
   * starts or restarts the lease), `false` once it is inactive (stops the lease). Only pins with
   * a lease send anything.
   */
  active(on: boolean): void;
  /** The pin was driven inactive and released by this process: the guardian forgets it. Idempotent. */
  release(): void;
}

/** Something that guards outputs against the death of this process: {@link Guardian}, or a fake in tests. */
export interface PinGuardian {
  /**
   * Starts guarding `pin` (call it once the pin is exported, or the line requested). Never
   * throws: when the guardian cannot be started, one line goes to `log` and the pin works
   * unguarded.
   * @param log receives that line (and later ones about the guardian, such as its early exit).
   */
  hold(pin: GuardedPin, log: (line: string) => void): PinGuard;
}

/** Options of {@link Guardian}. */
export interface GuardianOptions {
  /**
   * The sysfs GPIO directory holding `unexport` and `gpioN/`. Default `/sys/class/gpio`,
   * where onoff exports pins whatever `SKETCH_SYSFS_ROOT` says (tests mount a tmpfs over it, or
   * pass a temporary directory).
   */
  gpioDir?: string;
  /** The Node.js binary that runs the guardian. Default `process.execPath`. */
  execPath?: string;
  /** File descriptor the guardian writes its log lines to. Default 2 (this process's stderr, inherited). */
  logFd?: number;
  /**
   * Test seam: a module (path) whose export `syscalls` — a `GpioSyscalls`, or a function
   * returning one — the guardian process uses for chardev lines instead of the real ones
   * (passed as `--syscalls PATH`). Default: none, the real syscalls (koffi), loaded when the
   * first line is held. With it, this process never calls prctl for the guardian.
   */
  syscallsModule?: string;
}

/**
 * The guardian's id of a held output: its sysfs number, `<chip>:<offset>`, or a PWM channel's
 * directory (through encodeURI, which leaves an ordinary path as it is and no whitespace in any).
 */
function keyOf(p: GuardedPin): string {
  if (p.kind === 'chardev') return `${p.chip}:${p.offset}`;
  if (p.kind === 'pwm') return encodeURI(p.dir);
  return String(p.sysfs);
}

/** The line that tells the guardian to hold `p`. */
function holdLine(p: GuardedPin): string {
  if (p.kind === 'pwm') return `hold-pwm ${keyOf(p)} ${p.leaseMs} ${p.pin}`;
  if (p.kind !== 'chardev') return `hold ${p.sysfs} ${p.inactiveLevel} ${p.activeLow ? 1 : 0} ${p.leaseMs} ${p.pin}`;
  const fields = [p.inactiveLevel, p.activeLow ? 1 : 0, p.leaseMs, p.flags, p.fd, encodeURIComponent(p.consumer), encodeURIComponent(String(p.pin))];
  return `hold-line ${keyOf(p)} ${fields.join(' ')}`;
}

/**
 * How to start the guardian process: node's arguments, or why it cannot be started. Next to
 * this module is `guardian-process.js` once compiled (dist; from the bundle's chunks, one folder over); when this module runs from its
 * TypeScript source (under tsx), `guardian-process.ts` is run through tsx.
 */
export function guardianArguments(): string[] | string {
  const js = fileURLToPath(new URL('./guardian-process.js', import.meta.url));
  if (fs.existsSync(js)) return [js];
  // Bundled (scripts/bundle.mjs), this module's code sits in dist/runtime/chunks/; tsc's
  // guardian-process.js stays in dist/runtime/hardware/.
  const unbundled = fileURLToPath(new URL('../hardware/guardian-process.js', import.meta.url));
  if (fs.existsSync(unbundled)) return [unbundled];
  const ts = fileURLToPath(new URL('./guardian-process.ts', import.meta.url));
  if (!fs.existsSync(ts)) return `${js} is missing (reinstall sketchnet)`;
  try {
    return ['--import', import.meta.resolve('tsx'), ts];
  } catch (err) {
    return `cannot find tsx to run ${ts}: ${oneLine(err)}`;
  }
}

interface Entry {
  readonly spec: GuardedPin;
  active: boolean;
}

/**
 * Starts and talks to a guardian process for this process's outputs. The process is
 * started when the first pin is held, with `detached: true` (its own session and process
 * group: a signal to this process's group, Ctrl-C included, does not reach it) and `unref()`ed
 * (it never keeps this process alive); it ends when the last pin is released (it sees end of
 * file with nothing held) or when this process ends. Holding a pin after that starts a new one.
 */
export class Guardian implements PinGuardian {
  /** The sysfs GPIO directory the guardian writes in. */
  readonly gpioDir: string;
  readonly #execPath: string;
  readonly #logFd: number;
  readonly #syscallsModule?: string;
  readonly #pins = new Map<string, Entry>();
  #child?: ChildProcess;
  /** prctl(PR_SET_PTRACER) was tried for the current guardian process. */
  #tracer = false;
  #ready?: Promise<number | undefined>;
  #log: (line: string) => void = (line) => process.stderr.write(line + '\n');
  #refresh?: NodeJS.Timeout;
  #refreshEvery = 0;

  /** Starts nothing yet: the process starts with the first {@link hold}. */
  constructor(options: GuardianOptions = {}) {
    this.gpioDir = options.gpioDir ?? GUARDIAN_GPIO_DIR;
    this.#execPath = options.execPath ?? process.execPath;
    this.#logFd = options.logFd ?? 2;
    this.#syscallsModule = options.syscallsModule;
  }

  /** The guardian process's id while one runs, else undefined. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** What is held, in the order it was held: sysfs numbers, `<chip>:<offset>` for lines, directories for PWM channels. */
  get held(): Array<number | string> {
    return [...this.#pins.values()].map(({ spec }) => (spec.kind === 'chardev' ? keyOf(spec) : spec.kind === 'pwm' ? spec.dir : spec.sysfs));
  }

  /**
   * Resolves with the guardian's pid once it reads its pipe, or undefined when none runs or it
   * could not start; keeps this process alive until then. For tests and diagnostics: holding a
   * pin never waits for it, and messages written before it is ready wait in the pipe.
   */
  ready(): Promise<number | undefined> {
    const ready = this.#ready;
    if (!ready) return Promise.resolve(undefined);
    const stdout = this.#child?.stdout as Socket | undefined;
    stdout?.ref();
    return ready.finally(() => stdout?.unref());
  }

  /** See {@link PinGuardian.hold}. */
  hold(spec: GuardedPin, log: (line: string) => void): PinGuard {
    this.#log = log;
    const entry: Entry = { spec, active: false };
    const key = keyOf(spec);
    this.#pins.set(key, entry);
    if (this.#child) {
      this.#send(holdLine(spec));
      this.#allowTracer();
    } else this.#start();
    let released = false;
    return {
      active: (on) => {
        if (released || spec.leaseMs <= 0 || (!on && !entry.active)) return;
        entry.active = on;
        this.#send(`${on ? 'active' : 'inactive'} ${key}`);
        this.#schedule();
      },
      release: () => {
        if (released) return;
        released = true;
        if (this.#pins.get(key) !== entry) return;
        this.#pins.delete(key);
        this.#send(`release ${key}`);
        this.#schedule();
        if (this.#pins.size === 0) this.#end();
      },
    };
  }

  /**
   * Closes the pipe as this process's death would: the guardian drives every output still held
   * inactive (unexporting pins, requesting and releasing lines, disabling and unexporting PWM
   * channels), logs one line and exits. The
   * pins' owners are not told (their writes still go to sysfs, or to their line requests). For tests, and to hand the pins over before an abrupt exit.
   */
  disconnect(): void {
    const child = this.#child;
    this.#forget();
    this.#pins.clear();
    child?.stdin?.destroy();
  }

  #start(): void {
    const args = guardianArguments();
    if (typeof args === 'string') return this.#cannotStart(args);
    let child: ChildProcess;
    const seam = this.#syscallsModule ? ['--syscalls', this.#syscallsModule] : [];
    try {
      child = spawn(this.#execPath, [...args, '--gpio-dir', this.gpioDir, '--sketch-pid', String(process.pid), ...seam], {
        stdio: ['pipe', 'pipe', this.#logFd],
        detached: true,
      });
    } catch (err) {
      return this.#cannotStart(oneLine(err));
    }
    this.#child = child;
    child.unref();
    const stdin = child.stdin as Socket;
    const stdout = child.stdout as Socket;
    stdin.unref();
    stdout.unref();
    stdin.on('error', () => {}); // EPIPE once it is gone: its 'exit' says so
    let ready = false;
    this.#ready = new Promise((resolve) => {
      stdout.setEncoding('utf8').on('data', (text: string) => {
        if (!ready && text.startsWith('ready')) {
          ready = true;
          resolve(child.pid);
        }
      });
      child.on('error', (err) => {
        resolve(undefined);
        if (this.#child !== child) return;
        this.#forget();
        this.#cannotStart(oneLine(err));
      });
      child.on('exit', (code, signal) => {
        resolve(undefined);
        if (this.#child !== child) return; // ended by us, or already reported
        const held = this.#pins.size;
        this.#forget();
        if (held === 0) return;
        const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        this.#log(
          `gpio guardian (pid ${child.pid}) ${how}${ready ? '' : ' while starting'}: ${held} output(s) still go inactive on a normal stop, but no longer if this process is killed (SIGKILL)`,
        );
      });
    });
    for (const { spec, active } of this.#pins.values()) {
      this.#send(holdLine(spec));
      if (active) this.#send(`active ${keyOf(spec)}`);
    }
    this.#schedule();
    this.#allowTracer();
  }

  /**
   * A lease on a chardev line needs the guardian to take this process's line request
   * (pidfd_getfd), which Yama's `ptrace_scope` 1 refuses to a child unless this process names
   * it with prctl(PR_SET_PTRACER): done once per guardian process, when a leased line is held.
   * Fails soft: without Yama the call fails and nothing is needed; with a stricter scope the
   * guardian says once that the lease cannot work.
   */
  #allowTracer(): void {
    const pid = this.#child?.pid;
    if (this.#tracer || pid === undefined || this.#syscallsModule) return;
    if (![...this.#pins.values()].some(({ spec }) => spec.kind === 'chardev' && spec.leaseMs > 0)) return;
    this.#tracer = true;
    const sys = systemSyscalls();
    try {
      if (typeof sys !== 'string') sys.allowPtracer?.(pid);
    } catch {
      // EINVAL without Yama: nothing to allow
    }
  }

  #cannotStart(why: string): void {
    this.#log(
      `gpio guardian could not start (${why}): outputs still go inactive on a normal stop, but not if this process is killed (SIGKILL)`,
    );
  }

  #send(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(line + '\n');
  }

  /** Ends the pipe once nothing is held: the guardian sees end of file with nothing held and exits. */
  #end(): void {
    const child = this.#child;
    this.#forget();
    child?.stdin?.end();
  }

  /** Drops the current guardian process (it is ending): stops refreshing; held pins stay listed. */
  #forget(): void {
    this.#child = undefined;
    this.#ready = undefined;
    this.#tracer = false;
    clearInterval(this.#refresh);
    this.#refresh = undefined;
    this.#refreshEvery = 0;
  }

  /** Runs the refresh timer at a quarter of the shortest lease among active pins, or stops it. */
  #schedule(): void {
    let shortest = Infinity;
    for (const e of this.#pins.values()) if (e.active && e.spec.leaseMs > 0) shortest = Math.min(shortest, e.spec.leaseMs);
    const every = this.#child && shortest < Infinity ? Math.max(1, Math.floor(shortest / 4)) : 0;
    if (every === this.#refreshEvery) return;
    clearInterval(this.#refresh);
    this.#refresh = every ? setInterval(() => this.#send('refresh'), every).unref() : undefined;
    this.#refreshEvery = every;
  }
}

const shared = globalThis as Record<symbol, Guardian | undefined>;
const SHARED = Symbol.for('sketchnet.gpio.guardian');

/**
 * The guardian of this process's real outputs, on `/sys/class/gpio`, the real GPIO character
 * devices and the PWM channels named by their directories (created on first use, shared by
 * every copy of this module, like the safe-state registry). `openOutput()` uses it for pins
 * exported through the real onoff and lines requested through the real syscalls, `openPwm()`
 * for channels written through node:fs.
 */
export function systemGuardian(): Guardian {
  return (shared[SHARED] ??= new Guardian());
}
