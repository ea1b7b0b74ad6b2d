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
      assert.is((err as NodeJS.ErrnoException).code, 'ENOTTY');
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
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(Date.now()), 5);
      const stop = new AbortController();
      const a = s.readEvents(fds[0]!, buf, stop.signal);
      const other = new AbortController();
      const b = s.readEvents(fds[1]!, new Uint8Array(48), other.signal);
      await new Promise((r) => setTimeout(r, 60));
      assert.ok(ticks.length >= 5, `the event loop ran while poll waited (${ticks.length} ticks)`);
      fs.writeSync(fds[0]!, Buffer.alloc(48, 7));
      assert.is(await a, 48);
      assert.is(buf[0], 7);
      other.abort();
      assert.is(await b, 0);
      const c = s.readEvents(fds[0]!, buf, stop.signal);
      stop.abort();
      assert.is(await c, 0);
      clearInterval(timer);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
