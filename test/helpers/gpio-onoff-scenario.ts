/**
 * The onoff integration scenario, run by test/gpio-onoff.ts inside
 * `unshare --mount --propagation private --pid --fork --mount-proc` with a fresh tmpfs on
 * /sys/class/gpio (and a /proc showing only this PID namespace's processes).
 * It copies the Pi 4 / Linux 6.6 chips from test/fixtures/gpio-pi4-6.6 there, starts the fake
 * kernel (fake-gpio-kernel.ts), and drives BCM 18 through the real onoff package:
 *
 *   A  auto backend: export, 1, close → 0 and unexport
 *   B  active-low: rests at 1, active at 0
 *   C  a child process holding the pin active gets SIGTERM; its guardian exits with it
 *   D  a child process without a guardian holding the pin active gets SIGKILL, then the pin is
 *      opened again
 *   E  the buzzer sketch in this process; its guardian exits when it stops
 *   F  `sketch run buzzer` (dist, the compiled guardian) sounding: SIGKILL to its process group;
 *      its guardian drives the pin to 0 and unexports it
 *   G  `sketch run buzzer` sounding: SIGTERM, a normal stop; the guardian leaves with it
 *   H  `sketch run buzzer --lease 200` (times the time scale) sounding: SIGSTOP; the guardian turns it off after the lease
 *
 * Prints one observation per line (the test compares them with what it expects), plus
 * `F timing: N ms` / `H timing: N ms` lines the test checks against limits, and exits 0;
 * its time limits and H's lease are scaled by SKETCH_TEST_TIME_SCALE (./time-scale.ts), as the
 * test's are;
 * exits 78 without touching anything when /sys/class/gpio is not an empty tmpfs.
 * Runs only when started as a script, so importing it (uvu collecting files) does nothing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { openOutput } from '../../runtime/hardware/gpio.js';
import Buzzer from '../../sketches/buzzer.js';
import { scaled } from './time-scale.js';

const GPIO = '/sys/class/gpio';
const TMPFS_MAGIC = 0x01021994;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const SKETCH_BIN = here('../../dist/bin/sketch.cjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Guardian processes running in this PID namespace (zombies left to PID 1, this process, do not count). */
function guardians(): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('guardian-process')) continue;
      if (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z') n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** Waits up to `limitMs` for the guardians to be gone; returns how many are left. */
async function guardiansGone(limitMs = scaled(3000)): Promise<number> {
  const end = Date.now() + limitMs;
  while (guardians() > 0 && Date.now() < end) await sleep(5);
  return guardians();
}

/** Polls `read` every ms until it returns `want`; resolves with the ms it took, or -1 after `limitMs`. */
async function timeUntil(read: () => string, want: string, limitMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < limitMs) {
    if (read() === want) return Math.round(performance.now() - start);
    await sleep(1);
  }
  return -1;
}

/** Lines of a stream, taken one at a time with a time limit. */
function lineQueue(stream: NodeJS.ReadableStream, what: string) {
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  return (timeoutMs = scaled(3000)): Promise<string> => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line from ${what} within ${timeoutMs} ms`)), timeoutMs);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  };
}

/** Starts gpio-child.ts with the sysfs backend, waits for `ready`, sends `signal`, resolves with the exit code. */
async function childHeldPin(signal: NodeJS.Signals, atReady: () => void, extra: string[] = []): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', here('./gpio-child.ts'), '--backend', 'sysfs', '--end', 'signal', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const next = lineQueue(child.stdout!, 'the child');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while ((await next(scaled(5000))) !== 'ready');
  atReady();
  child.kill(signal);
  return exited;
}

async function main(): Promise<void> {
  const say = (line: string) => fs.writeSync(1, line + '\n');
  if (fs.statfsSync(GPIO).type !== TMPFS_MAGIC || fs.readdirSync(GPIO).length > 0) {
    process.stderr.write(`refusing to run: ${GPIO} is not an empty tmpfs (not inside the test's mount namespace?)\n`);
    process.exit(78);
  }
  fs.cpSync(here('../fixtures/gpio-pi4-6.6/class/gpio'), GPIO, { recursive: true });

  const kernel = spawn(process.execPath, ['--import', 'tsx', here('./fake-gpio-kernel.ts'), GPIO], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const nextKernelLine = lineQueue(kernel.stdout!, 'the fake kernel');
  const fromKernel = async () => `kernel: ${await nextKernelLine()}`;
  if ((await nextKernelLine(scaled(5000))) !== 'ready') throw new Error('fake kernel did not start');
  try {
    os.setPriority(kernel.pid!, -10); // it must answer while onoff busy-waits for gpioN/
  } catch {
    // not allowed: it usually answers within a millisecond anyway
  }

  const load = createRequire(import.meta.url);
  say(`onoff Gpio.accessible=${(load('onoff') as typeof import('onoff')).Gpio.accessible}`);
  const file = (name: string) => fs.readFileSync(`${GPIO}/gpio530/${name}`, 'utf8').trim();
  const valueAt = (fd: number) => {
    const buf = Buffer.alloc(1);
    fs.readSync(fd, buf, 0, 1, 0);
    return buf.toString();
  };

  // A: the buzzer case
  const a = openOutput(18, { log: say });
  say(`A open: backend=${a.backend} ${await fromKernel()}`);
  say(`A open: direction=${file('direction')} active_low=${file('active_low')} value=${file('value')} read=${a.read()}`);
  a.write(1);
  say(`A write(1): value=${file('value')} read=${a.read()}`);
  const fd = fs.openSync(`${GPIO}/gpio530/value`, 'r'); // still readable once gpio530/ is removed
  a.close();
  say(`A close: value=${valueAt(fd)} ${await fromKernel()} exists=${fs.existsSync(`${GPIO}/gpio530`)}`);
  fs.closeSync(fd);

  // B: active-low
  const b = openOutput(18, { backend: 'sysfs', activeLow: true });
  say(`B open: ${await fromKernel()} direction=${file('direction')} value=${file('value')} read=${b.read()}`);
  b.write(1);
  say(`B write(1): value=${file('value')} read=${b.read()}`);
  b.close();
  say(`B close: ${await fromKernel()}`);

  // C: SIGTERM to a process holding the pin active
  const c = await childHeldPin('SIGTERM', () => say(`C child ready: value=${file('value')}`));
  say(`C SIGTERM: exit=${c} ${await fromKernel()} ${await fromKernel()} guardians=${await guardiansGone()}`);

  // D: without a guardian, SIGKILL leaves the pin driven; the next open takes the exported pin
  // over and drives it inactive
  const d = await childHeldPin('SIGKILL', () => {}, ['--no-guardian']);
  say(`D SIGKILL without guardian: exit=${d} ${await fromKernel()} still exported=${fs.existsSync(`${GPIO}/gpio530`)} value=${file('value')}`);
  const again = openOutput(18, { backend: 'sysfs' });
  say(`D reopen: direction=${file('direction')} value=${file('value')}`);
  again.close();
  say(`D close: ${await fromKernel()}`);

  // E: the buzzer sketch itself, driven over a WebSocket on loopback
  const buzzer = new Buzzer({ discovery: false, log: () => {}, options: { pin: 18 } });
  const { url } = await buzzer.run({ host: '127.0.0.1' });
  say(`E buzzer: backend=${buzzer.output!.backend} ${await fromKernel()}`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const ask = (m: string) =>
    new Promise<string>((resolve) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.send(m);
    });
  say(`E send 1: ack=${await ask('1')} value=${file('value')}`);
  say(`E send 0: ack=${await ask('0')} value=${file('value')}`);
  say(`E send 1: ack=${await ask('1')} value=${file('value')}`);
  ws.close();
  await buzzer.close();
  say(`E stop: ${await fromKernel()} guardians=${await guardiansGone()}`);

  // F: `sketch run buzzer` sounding, then SIGKILL to its whole process group: its guardian
  // (in a session of its own) drives the pin inactive and unexports it
  const f = await buzzerCli([]);
  say(`F buzzer: ${await fromKernel()} guardians=${guardians()}`);
  say(`F send 1: ack=${await f.send('1')} value=${file('value')}`);
  const fFd = fs.openSync(`${GPIO}/gpio530/value`, 'r');
  process.kill(-f.pid, 'SIGKILL');
  const fLimit = scaled(500);
  const fMs = await timeUntil(() => valueAt(fFd), '0', fLimit);
  fs.closeSync(fFd);
  say(`F SIGKILL to its process group: exit=${await f.exited} value=${fMs >= 0 ? `0 within ${fLimit} ms` : `not 0 after ${fLimit} ms`} ${await fromKernel()} guardians=${await guardiansGone()}`);
  say(`F timing: ${fMs} ms`);
  say(`F guardian: ${(await f.stderr()).trim().replace(/process \d+/, 'process PID').replace(/\(\d+ ms\)/, '(N ms)')}`);

  // G: a normal stop of a sounding `sketch run buzzer`: the pins are released first, and the
  // guardian leaves silently
  const g = await buzzerCli([]);
  say(`G buzzer: ${await fromKernel()} guardians=${guardians()}`);
  say(`G send 1: ack=${await g.send('1')} value=${file('value')}`);
  process.kill(g.pid, 'SIGTERM');
  say(`G SIGTERM: exit=${await g.exited} ${await fromKernel()} guardians=${await guardiansGone()} stderr=${JSON.stringify(await g.stderr())}`);

  // H: with --lease, a sounding buzzer whose process is stopped (SIGSTOP: hung, not dead) is
  // turned off by its guardian, and stays exported until the sketch stops
  const h = await buzzerCli(['--lease', String(scaled(200))]);
  say(`H buzzer: ${await fromKernel()} ${h.setupLine}`);
  say(`H send 1: ack=${await h.send('1')} value=${file('value')}`);
  const hFd = fs.openSync(`${GPIO}/gpio530/value`, 'r');
  process.kill(h.pid, 'SIGSTOP');
  const hMs = await timeUntil(() => valueAt(hFd), '0', scaled(1000));
  fs.closeSync(hFd);
  say(`H SIGSTOP: value=${file('value')} exported=${fs.existsSync(`${GPIO}/gpio530`)}`);
  say(`H timing: ${hMs} ms`);
  process.kill(h.pid, 'SIGCONT');
  process.kill(h.pid, 'SIGTERM');
  say(`H SIGCONT, SIGTERM: exit=${await h.exited} ${await fromKernel()} guardians=${await guardiansGone()}`);
  say(`H guardian: ${(await h.stderr()).trim().replace(/process \d+/, 'process PID')}`);

  kernel.stdin!.end();
}

/**
 * Starts `sketch run buzzer --pin 18 --gpio sysfs` (the compiled CLI, in a process group of its
 * own) and waits until it serves; `send` sends one message over a WebSocket and resolves with
 * the acknowledgement.
 */
async function buzzerCli(extra: string[]) {
  const child = spawn(
    process.execPath,
    [SKETCH_BIN, 'run', 'buzzer', '--pin', '18', '--gpio', 'sysfs', '--no-mdns', '--host', '127.0.0.1', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  // closed once the sketch and its guardian (which shares it) have both let go
  const stderrClosed = new Promise<string>((resolve) => child.stderr!.on('close', () => resolve(stderr)));
  const next = lineQueue(child.stdout!, 'sketch run buzzer');
  let setupLine = '';
  let port: string | undefined;
  while (!port) {
    const line = await next(scaled(10_000));
    if (line.includes('buzzer on BCM')) setupLine = line.replace(/^\S+Z /, ''); // without the time piped lines start with
    port = /serving on [^\s]+:(\d+)/.exec(line)?.[1];
  }
  const url = `ws://127.0.0.1:${port}/`;
  return { pid: child.pid!, exited, setupLine, stderr: () => stderrClosed, send: (m: string) => askOnce(m, url) };
}

/** Connects to `url`, sends `message`, resolves with the one reply, and closes. */
async function askOnce(message: string, url: string): Promise<string> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const reply = await new Promise<string>((resolve) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.send(message);
  });
  ws.close();
  return reply;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`scenario failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
