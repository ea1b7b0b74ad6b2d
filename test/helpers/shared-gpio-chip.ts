/**
 * A fake GPIO character device that several processes share, behind the {@link GpioSyscalls}
 * seam: a sketch (a child process) requests lines on it and its GPIO guardian (another
 * process, given this module through its `--syscalls` test seam) sees them. The in-process
 * fake (./fake-gpio-chip.ts) cannot be seen by another process; this one keeps the chip's
 * state in files of a directory (env `SKETCH_FAKE_GPIO_DIR`, made by {@link sharedGpioDir}):
 *
 *   config.json   the chip and the kernel's behaviour ({@link SharedChipConfig}), written once
 *   state.json    lines (holder request, driven level, bias), requests, fds (owner pid)
 *   state.lock    the lock around each call (its owner's pid; taken over when that process is dead)
 *   calls.log     one line per GET_LINE, SET_VALUES, close of a request and takeFd, with the caller's pid
 *
 * Rules, as drivers/gpio/gpiolib-cdev.c has them, across processes:
 * - fds belong to the process that opened them (another process's fd number is EBADF to it);
 * - a request of a held line fails with EBUSY;
 * - a request's lines are released when its last fd is closed — by close(), or because the
 *   process holding it is dead (`/proc/PID/stat` gone or a zombie), as the kernel closes a dead
 *   process's fds; `releaseDelayMs` keeps a dead holder's fds that long after it is first seen
 *   dead (the kernel closes them a moment after the pipe that told the guardian);
 * - a released output goes back to input and its level follows its pull (upstream kernels,
 *   `dtparam=strict_gpiod`), or with `persistOutputs` keeps its level (Raspberry Pi kernels,
 *   raspberrypi/linux#6117);
 * - {@link SharedGpioChip.takeFd} is pidfd_getfd(2): another fd on the same request, in the
 *   calling process; `takeFdError` makes it fail (EPERM: Yama's ptrace_scope).
 * Outputs only: no edge events. No side effects on import.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeLineRequest,
  decodeLineValues,
  encodeChipInfo,
  encodeLineInfo,
  encodeLineValues,
  IOCTL,
  LineFlag,
  OFFSET,
  setRequestFd,
  type GpioSyscalls,
} from '../../runtime/hardware/gpio-uapi.js';

type Bit = 0 | 1;

/** This module's file: the guardian's `syscallsModule`. */
export const SHARED_GPIO_MODULE = fileURLToPath(import.meta.url);

/** The chip and the kernel's behaviour. */
export interface SharedChipConfig {
  /** Device path. Default `/dev/gpiochip0`. */
  path?: string;
  /** Label. Default `pinctrl-rp1` (a Raspberry Pi 5). */
  label?: string;
  /** Number of lines. Default 54. */
  lines?: number;
  /** Outputs keep their level after release (Raspberry Pi kernels). Default false (upstream, strict_gpiod). */
  persistOutputs?: boolean;
  /** A dead process's fds are closed this many ms after it is first seen dead. Default 0. */
  releaseDelayMs?: number;
  /** An errno name takeFd (pidfd_getfd) fails with, e.g. `EPERM`. Default: none. */
  takeFdError?: string;
}

interface LineState {
  /** Physical level driven: by a held output, or persisting after release. */
  driven?: Bit;
  /** The request holding it. */
  request?: number;
  /** Its direction while held. */
  output?: boolean;
  /** Last bias set (kept after release, as the pin controller keeps it). */
  bias: number;
}

interface RequestState {
  offsets: number[];
  consumer: string;
  flags: number[];
}

interface FdState {
  pid: number;
  chip?: true;
  request?: number;
}

interface State {
  nextFd: number;
  nextRequest: number;
  lines: LineState[];
  requests: Record<string, RequestState>;
  fds: Record<string, FdState>;
  /** pid → Date.now() when first seen dead while it still had fds. */
  dead: Record<string, number>;
}

/**
 * Makes a fresh directory for a shared chip (all lines free, inputs pulled down) and returns
 * its path: pass it to {@link SharedGpioChip} and as `SKETCH_FAKE_GPIO_DIR` to child processes.
 */
export function sharedGpioDir(config: SharedChipConfig = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sketchnet-shared-gpio-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const lines = Array.from({ length: config.lines ?? 54 }, (): LineState => ({ bias: 0 }));
  const state: State = { nextFd: 1000, nextRequest: 1, lines, requests: {}, fds: {}, dead: {} };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  fs.writeFileSync(path.join(dir, 'calls.log'), '');
  return dir;
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${syscall} failed (shared fake chip)`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/** True while `pid` runs; a zombie counts as dead (its fds are closed). */
function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const BIAS_MASK = LineFlag.BIAS_PULL_UP | LineFlag.BIAS_PULL_DOWN | LineFlag.BIAS_DISABLED;

/** The shared fake kernel, as seen from this process. */
export class SharedGpioChip implements GpioSyscalls {
  readonly dir: string;
  readonly #config: SharedChipConfig;
  readonly #path: string;

  /** @param dir made by {@link sharedGpioDir}; default env `SKETCH_FAKE_GPIO_DIR`. */
  constructor(dir = process.env.SKETCH_FAKE_GPIO_DIR) {
    if (!dir) throw new Error('SharedGpioChip needs a directory: SKETCH_FAKE_GPIO_DIR is not set');
    this.dir = dir;
    this.#config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as SharedChipConfig;
    this.#path = this.#config.path ?? '/dev/gpiochip0';
  }

  // --- the seam ------------------------------------------------------------------------------

  chips(): string[] {
    return [this.#path];
  }

  open(file: string): number {
    if (file !== this.#path) throw errno('ENOENT', 'open');
    return this.#tx((s) => this.#newFd(s, { pid: process.pid, chip: true }));
  }

  ioctl(fd: number, request: number, arg: Uint8Array): void {
    this.#tx((s) => {
      const f = this.#own(s, fd, 'ioctl');
      if (f.chip) return this.#chipIoctl(s, request, arg);
      return this.#requestIoctl(s, f.request!, request, arg);
    });
  }

  readEvents(_fd: number, _buf: Uint8Array, signal: AbortSignal): Promise<number> {
    // outputs only: nothing ever arrives
    return new Promise((resolve) => {
      if (signal.aborted) resolve(0);
      else signal.addEventListener('abort', () => resolve(0), { once: true });
    });
  }

  close(fd: number): void {
    this.#tx((s) => {
      const f = this.#own(s, fd, 'close');
      delete s.fds[fd];
      if (f.request !== undefined) this.#unref(s, f.request, `close fd=${fd}`);
    });
  }

  takeFd(pid: number, fd: number): number {
    return this.#tx((s) => {
      const refuse = (code: string) => {
        this.#call(`TAKE_FD pid=${pid} fd=${fd}: ${code}`);
        return errno(code, 'pidfd_getfd');
      };
      if (this.#config.takeFdError) throw refuse(this.#config.takeFdError);
      if (!alive(pid)) throw refuse('ESRCH');
      const f = s.fds[fd];
      if (!f || f.pid !== pid) throw refuse('EBADF');
      const dup = this.#newFd(s, { pid: process.pid, chip: f.chip, request: f.request });
      this.#call(`TAKE_FD pid=${pid} fd=${fd}: fd=${dup}`);
      return dup;
    });
  }

  // --- for tests -----------------------------------------------------------------------------

  /** The physical level on a line: what an output drives (held, or persisting), else its pull. */
  level(offset: number): Bit {
    return this.#tx((s) => {
      const line = this.#line(s, offset);
      return line.driven ?? (line.bias & LineFlag.BIAS_PULL_UP ? 1 : 0);
    });
  }

  /** Who holds a line ('' when free), the holder's pids, and whether it is an output now. */
  info(offset: number): { consumer: string; held: boolean; output: boolean; pids: number[] } {
    return this.#tx((s) => {
      const line = this.#line(s, offset);
      const req = line.request === undefined ? undefined : s.requests[line.request];
      const pids = Object.values(s.fds).filter((f) => f.request === line.request && line.request !== undefined).map((f) => f.pid);
      return { consumer: req?.consumer ?? '', held: !!req, output: !!req && !!line.output, pids: [...new Set(pids)] };
    });
  }

  /** calls.log: `pid=N GET_LINE 18 consumer=… flags=… level=0: fd=1002` and the like, oldest first. */
  calls(): string[] {
    return fs.readFileSync(path.join(this.dir, 'calls.log'), 'utf8').split('\n').filter(Boolean);
  }

  // --- the kernel's side ---------------------------------------------------------------------

  /** Runs `fn` on the state under the lock, after closing the fds of dead processes; writes the state back even when `fn` throws. */
  #tx<T>(fn: (s: State) => T): T {
    const lock = path.join(this.dir, 'state.lock');
    for (let tries = 0; ; tries++) {
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        let owner = 0;
        try {
          owner = Number(fs.readFileSync(lock, 'utf8'));
        } catch {
          continue; // released meanwhile
        }
        if (owner && !alive(owner)) fs.rmSync(lock, { force: true }); // its owner was killed holding it
        else if (tries > 5000) throw new Error(`shared fake chip: ${lock} held by ${owner} for over 5 s`);
        else sleep(1);
      }
    }
    try {
      const file = path.join(this.dir, 'state.json');
      const s = JSON.parse(fs.readFileSync(file, 'utf8')) as State;
      this.#reap(s);
      let result: T;
      try {
        result = fn(s);
      } finally {
        fs.writeFileSync(file + '.tmp', JSON.stringify(s));
        fs.renameSync(file + '.tmp', file);
      }
      return result;
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }

  /** Closes the fds of processes that are dead (after `releaseDelayMs`). */
  #reap(s: State): void {
    const now = Date.now();
    const delay = this.#config.releaseDelayMs ?? 0;
    const owners = new Set(Object.values(s.fds).map((f) => f.pid));
    for (const pid of owners) {
      if (alive(pid)) continue;
      const since = (s.dead[pid] ??= now);
      if (now - since < delay) continue;
      for (const [fd, f] of Object.entries(s.fds)) {
        if (f.pid !== pid) continue;
        delete s.fds[fd];
        if (f.request !== undefined) this.#unref(s, f.request, `exit of pid=${pid} closed fd=${fd}`);
      }
    }
    for (const pid of Object.keys(s.dead)) if (!owners.has(Number(pid)) || alive(Number(pid))) delete s.dead[pid];
  }

  /** An fd of a request went away: with none left, its lines are released. */
  #unref(s: State, id: number, why: string): void {
    if (Object.values(s.fds).some((f) => f.request === id)) return;
    const req = s.requests[id];
    if (!req) return;
    delete s.requests[id];
    for (const offset of req.offsets) {
      const line = s.lines[offset]!;
      if (line.output && !this.#config.persistOutputs) line.driven = undefined; // back to input
      line.request = undefined;
      line.output = undefined;
    }
    this.#call(`RELEASE ${req.offsets.join(',')} consumer=${req.consumer} (${why})`);
  }

  #newFd(s: State, f: FdState): number {
    const fd = s.nextFd++;
    s.fds[fd] = f;
    return fd;
  }

  #own(s: State, fd: number, syscall: string): FdState {
    const f = s.fds[fd];
    if (!f || f.pid !== process.pid) throw errno('EBADF', syscall);
    return f;
  }

  #line(s: State, offset: number): LineState {
    const line = s.lines[offset];
    if (!line) throw new RangeError(`shared fake chip has no line ${offset}`);
    return line;
  }

  #call(text: string): void {
    fs.appendFileSync(path.join(this.dir, 'calls.log'), `pid=${process.pid} ${text}\n`);
  }

  #chipIoctl(s: State, request: number, arg: Uint8Array): void {
    if (request === IOCTL.GPIO_GET_CHIPINFO_IOCTL) {
      encodeChipInfo({ name: path.basename(this.#path), label: this.#config.label ?? 'pinctrl-rp1', lines: s.lines.length }, arg);
      return;
    }
    if (request === IOCTL.GPIO_V2_GET_LINEINFO_IOCTL) {
      const offset = new DataView(arg.buffer, arg.byteOffset, arg.byteLength).getUint32(OFFSET.gpio_v2_line_info.offset, true);
      const line = s.lines[offset];
      if (!line) throw errno('EINVAL', 'ioctl');
      const req = line.request === undefined ? undefined : s.requests[line.request];
      const direction = line.output ? LineFlag.OUTPUT : LineFlag.INPUT;
      encodeLineInfo({ name: `GPIO${offset}`, consumer: req?.consumer ?? '', offset, flags: (req ? LineFlag.USED : 0) | direction | line.bias, debounceUs: 0 }, arg);
      return;
    }
    if (request !== IOCTL.GPIO_V2_GET_LINE_IOCTL) throw errno('ENOTTY', 'ioctl');
    const req = decodeLineRequest(arg);
    const settings = req.settings.map((x) => `flags=${x.flags} level=${x.output ?? 0}`).join(',');
    const call = `GET_LINE ${req.offsets.join(',')} consumer=${req.consumer} ${settings}`;
    if (req.offsets.length < 1 || req.offsets.some((o) => o >= s.lines.length)) throw errno('EINVAL', 'ioctl');
    if (req.settings.some((x) => x.flags & LineFlag.INPUT && x.flags & LineFlag.OUTPUT)) throw errno('EINVAL', 'ioctl');
    if (req.offsets.some((o) => s.lines[o]!.request !== undefined)) {
      this.#call(`${call}: EBUSY`);
      throw errno('EBUSY', 'ioctl');
    }
    const id = s.nextRequest++;
    s.requests[id] = { offsets: req.offsets, consumer: req.consumer, flags: req.settings.map((x) => x.flags) };
    req.offsets.forEach((offset, i) => {
      const line = s.lines[offset]!;
      const { flags, output = 0 } = req.settings[i]!;
      line.request = id;
      line.output = !!(flags & LineFlag.OUTPUT);
      if (flags & BIAS_MASK) line.bias = flags & BIAS_MASK;
      line.driven = line.output ? (((output ^ (flags & LineFlag.ACTIVE_LOW ? 1 : 0)) as Bit)) : undefined;
    });
    const fd = this.#newFd(s, { pid: process.pid, request: id });
    setRequestFd(arg, fd);
    this.#call(`${call}: fd=${fd}`);
  }

  #requestIoctl(s: State, id: number, request: number, arg: Uint8Array): void {
    const req = s.requests[id];
    if (!req) throw errno('EBADF', 'ioctl');
    const { bits, mask } = decodeLineValues(arg);
    if (mask === 0n) throw errno('EINVAL', 'ioctl');
    const masked = req.offsets.flatMap((offset, i) => ((mask >> BigInt(i)) & 1n ? [{ offset, i, line: s.lines[offset]!, low: req.flags[i]! & LineFlag.ACTIVE_LOW ? 1 : 0 }] : []));
    if (request === IOCTL.GPIO_V2_LINE_SET_VALUES_IOCTL) {
      if (masked.some((m) => !m.line.output)) throw errno('EPERM', 'ioctl');
      for (const m of masked) m.line.driven = (Number((bits >> BigInt(m.i)) & 1n) ^ m.low) as Bit;
      this.#call(`SET_VALUES ${masked.map((m) => `${m.offset}=${m.line.driven}`).join(',')} consumer=${req.consumer}`);
      return;
    }
    if (request === IOCTL.GPIO_V2_LINE_GET_VALUES_IOCTL) {
      let out = 0n;
      for (const m of masked) {
        const physical = m.line.driven ?? (m.line.bias & LineFlag.BIAS_PULL_UP ? 1 : 0);
        if (physical ^ m.low) out |= 1n << BigInt(m.i);
      }
      encodeLineValues(out, mask, arg);
      return;
    }
    throw errno('ENOTTY', 'ioctl');
  }
}

/** The guardian's `--syscalls` seam: the shared chip of `SKETCH_FAKE_GPIO_DIR`. */
export function syscalls(): GpioSyscalls {
  return new SharedGpioChip();
}
