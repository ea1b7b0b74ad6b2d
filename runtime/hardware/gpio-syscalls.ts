/**
 * The real {@link GpioSyscalls}: open(2), ioctl(2), read(2), poll(2) and close(2) from the C
 * library, called through koffi (a maintained FFI with prebuilt binaries for linux x64, arm64
 * and armhf inside its npm package: nothing is compiled on the Pi). Loaded on first use; on a
 * machine where koffi or the C library cannot load, {@link systemSyscalls} returns why.
 *
 * Edge events: one shared poller per process waits in poll(2) on every watched line request
 * (plus an eventfd to wake it when the set changes) on koffi's worker thread, so a hundred
 * inputs cost one thread, never the event loop. Line request fds are made O_NONBLOCK, so a
 * read never blocks the event loop even after a spurious wake-up.
 *
 * The GPIO guardian's lease on chardev lines takes a hung sketch's line request with
 * pidfd_open(2) + pidfd_getfd(2) ({@link GpioSyscalls.takeFd}); the sketch allows it with
 * prctl(PR_SET_PTRACER) where Yama restricts ptrace.
 *
 * Sources: open(2), ioctl(2), poll(2), eventfd(2), fcntl(2), pidfd_open(2), pidfd_getfd(2),
 * prctl(2) man pages, Documentation/admin-guide/LSM/Yama.rst; the request numbers and
 * structs are in ./gpio-uapi.ts.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { oneLine } from '../errors.js';
import type { GpioSyscalls } from './gpio-uapi.js';

const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const POLLFD_SIZE = 8; // struct pollfd { int fd; short events; short revents; }
// Syscall numbers from 424 on are the same on every architecture sketchnet runs on (x64, arm64,
// arm, riscv64: include/uapi/asm-generic/unistd.h, arch/*/entry/syscalls/*.tbl); MIPS and Alpha
// shift them, so there takeFd fails with ENOSYS.
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;
const PR_SET_PTRACER = 0x59616d61;

/** errno number → name (`16` → `EBUSY`); of two names for one number (EAGAIN, EWOULDBLOCK) the first listed wins. */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);
const EAGAIN = os.constants.errno.EAGAIN;

/** An Error shaped like Node's system errors: `code` is the errno name, `errno` its number, `syscall` the call. */
export function errnoError(errno: number, syscall: string, what = ''): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err = new Error(`${code}: ${syscall} failed${what ? ` (${what})` : ''} (errno ${errno})`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

interface Koffi {
  load(lib: string): { func(signature: string): KoffiFn };
  errno(): number;
}
type KoffiFn = ((...args: unknown[]) => number) & { async(...args: unknown[]): void };

interface Libc {
  koffi: Koffi;
  open: KoffiFn;
  ioctl: KoffiFn;
  read: KoffiFn;
  write: KoffiFn;
  close: KoffiFn;
  poll: KoffiFn;
  fcntl: KoffiFn;
  eventfd: KoffiFn;
  syscall: KoffiFn;
  prctl: KoffiFn;
}

const load = createRequire(import.meta.url);

function loadLibc(): Libc {
  const koffi = load('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  return {
    koffi,
    open: lib.func('int open(const char *path, int flags)'),
    // Declared with a fixed third argument: on Linux x64, arm64 and arm the variadic ioctl
    // takes its third argument exactly where a fixed one goes.
    ioctl: lib.func('int ioctl(int fd, unsigned long request, void *arg)'),
    read: lib.func('long read(int fd, void *buf, unsigned long count)'),
    write: lib.func('long write(int fd, void *buf, unsigned long count)'),
    close: lib.func('int close(int fd)'),
    poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    // syscall(2) and prctl(2) are variadic and read each argument as a long: declared with fixed
    // longs, which go where variadic ones do on Linux x64, arm64 and arm.
    syscall: lib.func('long syscall(long number, long a, long b, long c)'),
    prctl: lib.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)'),
  };
}

interface Waiter {
  fd: number;
  resolve: (readable: boolean) => void;
}

/**
 * Waits in poll(2) on koffi's worker thread for any of the watched fds to become readable.
 * Runs while something is watched; an eventfd wakes it when the set changes.
 */
class Poller {
  readonly #c: Libc;
  readonly #waiters = new Set<Waiter>();
  #wake = -1;
  #running = false;

  constructor(c: Libc) {
    this.#c = c;
  }

  /** Resolves true once `fd` is readable (or in error: the read says which), false when aborted. */
  wait(fd: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = { fd, resolve };
      const abort = () => {
        if (!this.#waiters.delete(waiter)) return;
        resolve(false);
        this.#kick();
      };
      waiter.resolve = (readable) => {
        signal.removeEventListener('abort', abort);
        resolve(readable);
      };
      signal.addEventListener('abort', abort, { once: true });
      this.#waiters.add(waiter);
      this.#kick();
    });
  }

  /** Starts the poll loop, or wakes the running poll so that it sees the new set. */
  #kick(): void {
    if (this.#wake < 0) {
      this.#wake = this.#c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.#wake < 0) throw errnoError(this.#c.koffi.errno(), 'eventfd');
    }
    if (this.#running) {
      this.#c.write(this.#wake, new BigUint64Array([1n]), 8);
      return;
    }
    if (this.#waiters.size > 0) this.#round();
  }

  #round(): void {
    const waiters = [...this.#waiters];
    const fds = Buffer.alloc(POLLFD_SIZE * (waiters.length + 1));
    const set = (i: number, fd: number) => {
      fds.writeInt32LE(fd, i * POLLFD_SIZE);
      fds.writeInt16LE(POLLIN, i * POLLFD_SIZE + 4);
    };
    set(0, this.#wake);
    waiters.forEach((w, i) => set(i + 1, w.fd));
    this.#running = true;
    this.#c.poll.async(fds, waiters.length + 1, -1, (err: unknown, n: number) => {
      this.#running = false;
      if (fds.readInt16LE(6) & POLLIN) this.#c.read(this.#wake, Buffer.alloc(8), 8); // drain the wake-up
      if (!err && n > 0) {
        waiters.forEach((w, i) => {
          const revents = fds.readInt16LE((i + 1) * POLLFD_SIZE + 6);
          if (revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL) && this.#waiters.delete(w)) w.resolve(true);
        });
      }
      if (this.#waiters.size > 0) this.#round();
    });
  }
}

/** The koffi-backed syscalls, created once per process. */
class LibcSyscalls implements GpioSyscalls {
  readonly #c: Libc;
  readonly #poller: Poller;
  readonly #nonblocking = new Set<number>();

  constructor(c: Libc) {
    this.#c = c;
    this.#poller = new Poller(c);
  }

  chips(): string[] {
    return listChipDevices();
  }

  open(path: string): number {
    const fd = this.#c.open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) throw errnoError(this.#c.koffi.errno(), 'open', path);
    return fd;
  }

  ioctl(fd: number, request: number, arg: Uint8Array): void {
    if (this.#c.ioctl(fd, request, arg) < 0) throw errnoError(this.#c.koffi.errno(), 'ioctl', `0x${request.toString(16)}`);
  }

  async readEvents(fd: number, buf: Uint8Array, signal: AbortSignal): Promise<number> {
    if (!this.#nonblocking.has(fd)) {
      const flags = this.#c.fcntl(fd, F_GETFL, 0);
      if (flags < 0 || this.#c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw errnoError(this.#c.koffi.errno(), 'fcntl');
      this.#nonblocking.add(fd);
    }
    for (;;) {
      if (signal.aborted) return 0;
      const n = this.#c.read(fd, buf, buf.byteLength);
      if (n >= 0) return n;
      const errno = this.#c.koffi.errno();
      if (errno !== EAGAIN) throw errnoError(errno, 'read');
      if (!(await this.#poller.wait(fd, signal))) return 0;
    }
  }

  close(fd: number): void {
    this.#nonblocking.delete(fd);
    if (this.#c.close(fd) < 0) throw errnoError(this.#c.koffi.errno(), 'close');
  }

  takeFd(pid: number, fd: number): number {
    if (process.arch.startsWith('mips')) throw errnoError(os.constants.errno.ENOSYS, 'pidfd_open', `syscall numbers of ${process.arch}`);
    const pidfd = Number(this.#c.syscall(SYS_PIDFD_OPEN, pid, 0, 0));
    if (pidfd < 0) throw errnoError(this.#c.koffi.errno(), 'pidfd_open', `pid ${pid}`);
    try {
      const dup = Number(this.#c.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0));
      if (dup < 0) throw errnoError(this.#c.koffi.errno(), 'pidfd_getfd', `fd ${fd} of pid ${pid}`);
      return dup; // O_CLOEXEC, as pidfd_getfd makes every fd it returns
    } finally {
      this.#c.close(pidfd);
    }
  }

  allowPtracer(pid: number): void {
    if (this.#c.prctl(PR_SET_PTRACER, pid, 0, 0, 0) < 0) throw errnoError(this.#c.koffi.errno(), 'prctl', 'PR_SET_PTRACER');
  }
}

/**
 * The GPIO chip devices, `/dev/gpiochipN`, sorted by N; none when /dev cannot be read. Needs no
 * koffi: `auto` looks here first and loads koffi only where there is a chip to talk to.
 */
export function listChipDevices(dev = '/dev'): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dev);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^gpiochip\d+$/.test(n))
    .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)))
    .map((n) => `${dev}/${n}`);
}

let system: GpioSyscalls | string | undefined;

/**
 * The real syscalls, or one line saying why they cannot be made (not Linux, koffi missing or
 * built for another platform). Loads koffi on first call; later calls return the same.
 */
export function systemSyscalls(): GpioSyscalls | string {
  if (system !== undefined) return system;
  if (process.platform !== 'linux') return (system = `the GPIO character device needs Linux, this is ${process.platform}`);
  try {
    system = new LibcSyscalls(loadLibc());
  } catch (err) {
    system = `cannot load koffi (the FFI that makes the GPIO ioctls): ${oneLine(err)}`;
  }
  return system;
}
