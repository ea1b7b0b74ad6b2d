/**
 * The onoff integration scenario, run by test/gpio-onoff.ts inside
 * `unshare --mount --propagation private --pid --fork` with a fresh tmpfs on /sys/class/gpio.
 * It copies the Pi 4 / Linux 6.6 chips from test/fixtures/gpio-pi4-6.6 there, starts the fake
 * kernel (fake-gpio-kernel.ts), and drives BCM 18 through the real onoff package:
 *
 *   A  auto backend: export, 1, close → 0 and unexport
 *   B  active-low: rests at 1, active at 0
 *   C  a child process holding the pin active gets SIGTERM
 *   D  a child process holding the pin active gets SIGKILL, then the pin is opened again
 *
 * Prints one observation per line (the test compares them with what it expects) and exits 0;
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

const GPIO = '/sys/class/gpio';
const TMPFS_MAGIC = 0x01021994;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

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
  return (timeoutMs = 3000): Promise<string> => {
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
async function childHeldPin(signal: NodeJS.Signals, atReady: () => void): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', here('./gpio-child.ts'), '--backend', 'sysfs', '--end', 'signal'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const next = lineQueue(child.stdout!, 'the child');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while ((await next(5000)) !== 'ready');
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
  if ((await nextKernelLine(5000)) !== 'ready') throw new Error('fake kernel did not start');
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
  say(`C SIGTERM: exit=${c} ${await fromKernel()} ${await fromKernel()}`);

  // D: SIGKILL cannot be caught; the next open takes the exported pin over and drives it inactive
  const d = await childHeldPin('SIGKILL', () => {});
  say(`D SIGKILL: exit=${d} ${await fromKernel()} still exported=${fs.existsSync(`${GPIO}/gpio530`)} value=${file('value')}`);
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
  say(`E stop: ${await fromKernel()}`);

  kernel.stdin!.end();
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
