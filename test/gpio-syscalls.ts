/**
 * The real syscalls seam (koffi → libc) on this machine, without GPIO hardware: errno
 * mapping, ioctl on a non-GPIO fd, and the shared poller that waits for edge events on
 * koffi's worker thread — exercised on a FIFO, which poll(2) and read(2) treat as they treat a
 * line request's fd.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemSyscalls } from '../runtime/hardware/gpio-syscalls.js';
import { IOCTL, SIZE, type GpioSyscalls } from '../runtime/hardware/gpio-uapi.js';

const sys = systemSyscalls();

/**
 * True when this process runs under user-mode emulation (qemu-aarch64 on an x64 machine, as
 * .ci/arm64 runs it): uname (os.machine()) gives the emulated machine, while
 * /proc/sys/kernel/arch, which QEMU passes through, names the kernel's. (A 32-bit process on a
 * 64-bit kernel counts too; the one assertion using this only accepts one more errno then.)
 */
function emulated(): boolean {
  try {
    return fs.readFileSync('/proc/sys/kernel/arch', 'utf8').trim() !== os.machine();
  } catch {
    return false;
  }
}

if (typeof sys === 'string') {
  test('the koffi syscalls (skipped)', () => console.log(`  skipped: ${sys}`));
} else {
  const s = sys as GpioSyscalls;

  test('koffi loads and the chip list is the /dev/gpiochip* devices, sorted by number', () => {
    const expected = fs.readdirSync('/dev').filter((n) => /^gpiochip\d+$/.test(n)).sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
    assert.equal(s.chips(), expected.map((n) => `/dev/${n}`));
  });

  test('a failed open throws an errno error with the errno name as code', () => {
    try {
      s.open('/dev/gpiochip-none');
      assert.unreachable();
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'ENOENT');
      assert.is((err as NodeJS.ErrnoException).syscall, 'open');
    }
  });

  test('a GPIO ioctl on a device that is no GPIO chip fails with ENOTTY, and close works', () => {
    const fd = s.open('/dev/null');
    try {
      s.ioctl(fd, IOCTL.GPIO_GET_CHIPINFO_IOCTL, new Uint8Array(SIZE.gpiochip_info));
      assert.unreachable();
    } catch (err) {
      // QEMU's user mode answers an ioctl it has no table entry for (the GPIO ones) with ENOSYS
      // without asking the kernel, which says ENOTTY: under emulation either is fine
      const code = (err as NodeJS.ErrnoException).code!;
      const expected = emulated() ? ['ENOTTY', 'ENOSYS'] : ['ENOTTY'];
      assert.ok(expected.includes(code), `${code}, expected ${expected.join(' or ')}`);
    } finally {
      s.close(fd);
    }
    assert.throws(() => s.close(fd), /EBADF/);
  });

  test('readEvents waits in poll(2) off the event loop and reads once data arrives; abort ends the wait', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpio-fifo-'));
    const fifos = [path.join(dir, 'a'), path.join(dir, 'b')];
    for (const f of fifos) execFileSync('mkfifo', [f]);
    // O_RDWR on a FIFO never blocks on open (Linux), like a line request's fd
    const fds = fifos.map((f) => fs.openSync(f, 'r+'));
    try {
      const buf = new Uint8Array(96);
      // The event loop turns while both reads wait in poll(2) on koffi's worker thread: a 5 ms
      // timer keeps ticking. Counted rather than timed over a fixed window, as a loaded machine
      // (or QEMU) may stall this process for a while: a loop blocked by poll would not tick at
      // all (the data only comes from this thread), and one polling in slices on this thread
      // would tick once per slice, which the median gap between ticks shows.
      const ticks: number[] = [];
      let enough!: () => void;
      const ticked = new Promise<void>((r) => (enough = r));
      const timer = setInterval(() => {
        if (ticks.push(performance.now()) < 11) return;
        clearInterval(timer);
        enough();
      }, 5);
      const stop = new AbortController();
      const a = s.readEvents(fds[0]!, buf, stop.signal);
      const other = new AbortController();
      const b = s.readEvents(fds[1]!, new Uint8Array(48), other.signal);
      await ticked;
      const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!).sort((x, y) => x - y);
      const median = gaps[gaps.length >> 1]!;
      assert.ok(median < 25, `the event loop ran while poll waited: 11 ticks of a 5 ms timer, median gap ${median.toFixed(1)} ms`);
      fs.writeSync(fds[0]!, Buffer.alloc(48, 7));
      assert.is(await a, 48);
      assert.is(buf[0], 7);
      other.abort();
      assert.is(await b, 0);
      const c = s.readEvents(fds[0]!, buf, stop.signal);
      stop.abort();
      assert.is(await c, 0);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
