/**
 * Case 17: what a pin costs on each backend, measured in this process (no hardware here):
 *
 * - output writes: `OutputPin.write()` on chardev through the fake chip (our encoding and the
 *   fake kernel's decoding), with a no-op kernel (our code alone), on sysfs as onoff does it
 *   per write (one `write(2)` of one byte at offset 0 on a kept-open file, here on tmpfs), and
 *   one real `ioctl(2)` through our koffi seam (FIONREAD on a FIFO: a call that succeeds on any
 *   machine) — so a real chardev write is about our code plus that ioctl;
 * - edge latency: from the fake chip's edge (`drive()`) to the input's `edge` event, and on to
 *   a WebSocket subscriber of the button sketch's `/edges` (same process, loopback); and from a
 *   byte written into a FIFO to `readEvents()` resolving on the real poller (poll(2) on koffi's
 *   worker thread: the path a real line's edge takes once the kernel has queued it).
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { openOutput } from '../../runtime/hardware/gpio.js';
import { openInput } from '../../runtime/hardware/input.js';
import { systemSyscalls } from '../../runtime/hardware/gpio-syscalls.js';
import { IOCTL, setRequestFd, SIZE, type GpioSyscalls } from '../../runtime/hardware/gpio-uapi.js';
import { releaseAllPins } from '../../runtime/hardware/safe-state.js';
import { WebSocket } from 'ws';
import Button from '../../sketches/button.js';
import { FakeGpioChip } from '../../test/helpers/fake-gpio-chip.js';
import type { Ctx } from '../lib/env.js';
import { fmtCount, fmtRatio, fmtUs, section, table, type Section } from '../lib/report.js';

/** Calls per second of `fn`, run for about `ms`. */
function rate(fn: (i: number) => void, ms: number): number {
  for (let i = 0; i < 2000; i++) fn(i); // warm-up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 1000; i++) fn(n++);
    t = performance.now();
  }
  return (n / (t - t0)) * 1000;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export async function gpio(ctx: Ctx): Promise<Section> {
  const s = section(
    '17. GPIO: output writes and edge latency by backend',
    'In one process, without hardware: output writes per second through each backend\'s code and the system-call floors under them, and the latency from an edge to the input\'s `edge` event. The chardev rows run our real encoder against the fake chip (test/helpers/fake-gpio-chip.ts), which decodes the same bytes the kernel would.',
  );
  const ms = ctx.quick ? 200 : 1500;
  const rows: string[][] = [];

  const chip = new FakeGpioChip();
  const out = openOutput(18, { backend: 'chardev', syscalls: chip, log: () => {} });
  const chardev = rate((i) => out.write((i & 1) as 0 | 1), ms);
  out.close();
  rows.push(['chardev `write()` (fake chip seam)', fmtCount(chardev)]);

  // Our side alone: the fake chip grants the request, whose fd then reaches a kernel that does nothing.
  const NOOP_FD = 5000;
  const noop: GpioSyscalls = {
    chips: () => chip.chips(),
    open: (p) => chip.open(p),
    ioctl: (fd, req, arg) => {
      if (fd === NOOP_FD) return;
      chip.ioctl(fd, req, arg);
      if (req === IOCTL.GPIO_V2_GET_LINE_IOCTL) setRequestFd(arg, NOOP_FD);
    },
    readEvents: async () => 0,
    close: (fd) => (fd === NOOP_FD ? undefined : chip.close(fd)),
  };
  const ours = openOutput(19, { backend: 'chardev', syscalls: noop, log: () => {} });
  const encode = rate((i) => ours.write((i & 1) as 0 | 1), ms);
  ours.close();
  rows.push(['chardev `write()`, our code only (the kernel a no-op)', fmtCount(encode)]);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gpio-'));
  const valueFile = path.join(dir, 'value');
  fs.writeFileSync(valueFile, '0\n');
  const fd = fs.openSync(valueFile, 'r+');
  const HIGH = Buffer.from('1');
  const LOW = Buffer.from('0');
  const sysfsFloor = rate((i) => fs.writeSync(fd, i & 1 ? HIGH : LOW, 0, 1, 0), ms);
  fs.closeSync(fd);
  rows.push(['sysfs: onoff\'s write per value (`fs.writeSync` of 1 byte, tmpfs file)', fmtCount(sysfsFloor)]);

  const sys = systemSyscalls();
  let koffi: number | undefined;
  if (typeof sys !== 'string') {
    // A real ioctl that succeeds on any machine: FIONREAD on a FIFO, through our wrapper.
    const fifo = path.join(dir, 'ioctl');
    execFileSync('mkfifo', [fifo]);
    const ffd = fs.openSync(fifo, 'r+');
    const FIONREAD = 0x541b;
    const buf = new Uint8Array(4);
    koffi = rate(() => sys.ioctl(ffd, FIONREAD, buf), ms);
    fs.closeSync(ffd);
    rows.push(['a real `ioctl(2)` through our koffi seam (FIONREAD on a FIFO)', fmtCount(koffi)]);
  } else {
    s.notes.push(`koffi unavailable: ${sys}`);
  }
  s.blocks.push(table(['output path', 'writes/s'], rows));
  s.figures += rows.length;
  const estimate = koffi ? 1 / (1 / encode + 1 / koffi) : undefined;
  s.notes.push(
    `A real chardev write is our code plus one ioctl: about ${estimate ? fmtCount(estimate) : '–'}/s here, ${fmtRatio(estimate === undefined ? undefined : estimate / sysfsFloor)} onoff's bare per-write system call (sysfs then adds the kernel's sysfs attribute handling, which a tmpfs file does not have).`,
  );

  // Edge latency on the fake chip: drive() → 'edge' event, one edge at a time.
  const n = ctx.quick ? 100 : 2000;
  const input = openInput(17, { backend: 'chardev', syscalls: chip, log: () => {} });
  const lat: number[] = [];
  let level: 0 | 1 = 0;
  for (let i = 0; i < n; i++) {
    level = (1 - level) as 0 | 1;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      input.once('edge', () => resolve());
      chip.drive(17, level);
    });
    lat.push((performance.now() - t0) * 1000);
  }
  input.close();
  releaseAllPins();

  // The real poller: a byte into a FIFO → readEvents() resolves (poll(2) on koffi's worker thread).
  const polled: number[] = [];
  if (typeof sys !== 'string') {
    const fifo = path.join(dir, 'events');
    execFileSync('mkfifo', [fifo]);
    const ffd = fs.openSync(fifo, 'r+');
    const buf = new Uint8Array(SIZE.gpio_v2_line_event);
    const stop = new AbortController();
    for (let i = 0; i < Math.min(n, 500); i++) {
      const pending = (sys as GpioSyscalls).readEvents(ffd, buf, stop.signal);
      await new Promise((r) => setTimeout(r, 1)); // let the poller go to sleep in poll(2)
      const t0 = performance.now();
      fs.writeSync(ffd, Buffer.alloc(SIZE.gpio_v2_line_event));
      await pending;
      polled.push((performance.now() - t0) * 1000);
    }
    stop.abort();
    fs.closeSync(ffd);
  }
  fs.rmSync(dir, { recursive: true, force: true });

  // Edge → a WebSocket subscriber of the button sketch's /edges (published with the kernel's time).
  const published: number[] = [];
  {
    const chip2 = new FakeGpioChip();
    const button = new Button({ discovery: false, log: () => {}, options: { gpio: 'chardev', pin: 17, debounce: 0 }, inputOptions: { syscalls: chip2 } });
    const { url } = await button.run({ host: '127.0.0.1' });
    const ws = new WebSocket(new URL('/edges', url).toString());
    let got: (() => void) | undefined;
    ws.on('message', () => got?.());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    let lvl: 0 | 1 = 1; // pull-up, active-low: released = high
    for (let i = 0; i < Math.min(n, 1000); i++) {
      lvl = (1 - lvl) as 0 | 1;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        got = resolve;
        chip2.drive(17, lvl);
      });
      published.push((performance.now() - t0) * 1000);
    }
    ws.close();
    await button.close();
  }
  releaseAllPins();

  const latRows = [
    ['fake chip edge → `edge` event', String(lat.length), fmtUs(pct(lat, 50)), fmtUs(pct(lat, 99))],
    ['fake chip edge → button sketch\'s `/edges` item at a WebSocket subscriber', String(published.length), fmtUs(pct(published, 50)), fmtUs(pct(published, 99))],
  ];
  if (polled.length) latRows.push(['FIFO byte → `readEvents()` (real poll(2), koffi worker)', String(polled.length), fmtUs(pct(polled, 50)), fmtUs(pct(polled, 99))]);
  s.blocks.push(table(['edge path', 'edges', 'p50', 'p99'], latRows));
  s.figures += latRows.length;
  ctx.log(`  chardev ${fmtCount(chardev)}/s, sysfs write ${fmtCount(sysfsFloor)}/s, koffi ioctl ${koffi ? fmtCount(koffi) : '–'}/s; edge p50 ${fmtUs(pct(lat, 50))}, poll p50 ${polled.length ? fmtUs(pct(polled, 50)) : '–'}`);
  return s;
}
