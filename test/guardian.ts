import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/errors.js';
import { openOutput } from '../runtime/hardware/gpio.js';
import { systemSyscalls } from '../runtime/hardware/gpio-syscalls.js';
import { LineFlag } from '../runtime/hardware/gpio-uapi.js';
import { Guardian, systemGuardian, type PinGuardian } from '../runtime/hardware/guardian.js';
import { GuardianCore } from '../runtime/hardware/guardian-process.js';
import { openPwm } from '../runtime/hardware/pwm.js';
import { ROOT } from './helpers/child.js';
import { FakeGpioChip } from './helpers/fake-gpio-chip.js';
import { fakeOnoff } from './helpers/fake-onoff.js';
import { fakePwmTree, PI4_PWM, pwmFile, startFakePwmKernel } from './helpers/fake-pwm.js';
import { SHARED_GPIO_MODULE, SharedGpioChip, sharedGpioDir, type SharedChipConfig } from './helpers/shared-gpio-chip.js';
import { scaled, TIME_SCALE } from './helpers/time-scale.js';

// The guardian process runs for real on a fake sysfs GPIO directory: a temporary directory
// with an `unexport` file and `gpioN/value` files, standing in for /sys/class/gpio (no kernel
// behind it, so an unexport shows as the number written to `unexport`). The real onoff and
// the fake kernel are in test/gpio-onoff.ts. On chardev, the sketch (a child process, or this
// one) and its guardian share a fake chip kept in files (test/helpers/shared-gpio-chip.ts),
// which the guardian loads through its `--syscalls` test seam.
//
// Time limits go through scaled() (test/helpers/time-scale.ts: SKETCH_TEST_TIME_SCALE, 1 on a
// native machine, more under emulation): leases, sleeps and hangs measured against them, and
// deadlines. A bound the guardian promises (SIGKILL -> inactive within 200 ms) is asserted as
// it is at scale 1 and printed with the figure measured (assertWithin).

const CHILD = fileURLToPath(new URL('./helpers/guardian-child.ts', import.meta.url));
const GPIO_CHILD = fileURLToPath(new URL('./helpers/gpio-child.ts', import.meta.url));
const PWM_CHILD = fileURLToPath(new URL('./helpers/pwm-child.ts', import.meta.url));
const PI4 = fileURLToPath(new URL('./fixtures/gpio-pi4-6.6', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * The lease of the lease tests (100 ms at native speed): this process refreshes it every quarter
 * of it, so it must never stall that long while it runs (under QEMU a process stalls for
 * 100–300 ms now and then), and its hang() outlasts it four times.
 */
const LEASE_MS = scaled(100);

const made: string[] = [];
test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fake /sys/class/gpio: `unexport` (empty) and `gpioN/value` holding each given text. */
function fakeGpioDir(values: Record<number, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sketchnet-guardian-'));
  made.push(dir);
  fs.writeFileSync(path.join(dir, 'unexport'), '');
  for (const [n, value] of Object.entries(values)) {
    fs.mkdirSync(path.join(dir, `gpio${n}`));
    fs.writeFileSync(path.join(dir, `gpio${n}`, 'value'), value);
  }
  return dir;
}
const value = (dir: string, n: number) => fs.readFileSync(path.join(dir, `gpio${n}`, 'value'), 'utf8');
const unexported = (dir: string) => fs.readFileSync(path.join(dir, 'unexport'), 'utf8');

/** A log file for a guardian's lines (its stderr), and a reader of its lines. */
function logFile(dir: string): { fd: number; lines: () => string[] } {
  const file = path.join(dir, 'guardian.log');
  const fd = fs.openSync(file, 'a');
  return { fd, lines: () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) };
}

/** True while `pid` runs (a zombie waiting for its new parent counts as gone). */
function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `cond` every 2 ms; resolves with the ms it took, or undefined after `limitMs`. */
async function until(cond: () => boolean, limitMs: number): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start <= limitMs) {
    if (cond()) return performance.now() - start;
    await sleep(2);
  }
  return cond() ? performance.now() - start : undefined;
}

/**
 * Asserts that something the guardian promises to do within `promiseMs` took `ms` (undefined:
 * never) less than that — times the time scale on a slower machine — and prints the figure.
 */
function assertWithin(ms: number | undefined, promiseMs: number, what: string): void {
  const limit = scaled(promiseMs);
  const scale = TIME_SCALE === 1 ? '' : ` (${promiseMs} ms × time scale ${TIME_SCALE})`;
  console.log(`${what} after ${ms === undefined ? 'never' : `${ms.toFixed(1)} ms`}; limit ${limit} ms${scale}`);
  assert.ok(ms !== undefined && ms < limit, `${what} after ${ms === undefined ? 'never' : `${ms.toFixed(1)} ms`}, limit ${limit} ms${scale}`);
}

/** Blocks this process's event loop (a hung sketch): no timer runs, so no refresh is sent. */
function hang(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('SIGKILL of a sketch, even of its whole process group, leaves its outputs inactive and unexported within 200 ms; the guardian logs one line and exits', async () => {
  const dir = fakeGpioDir({ 530: '0\n', 535: '1\n' });
  // BCM 18 active-high and BCM 23 active-low, both driven active
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, '--active', '18:530', '23:535:low'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // leads its own process group, which gets the SIGKILL
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const stderrClosed = new Promise((r) => child.stderr!.on('close', r)); // the child's and the guardian's copies
  const guardianPid = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      const m = /^ready (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`child exited first: ${out}${stderr}`)));
    setTimeout(() => reject(new Error(`no ready line: ${out}${stderr}`)), scaled(10_000));
  });
  assert.equal([value(dir, 530), value(dir, 535)], ['1\n', '0\n'], 'both sounding');

  process.kill(-child.pid!, 'SIGKILL');
  const ms = await until(() => value(dir, 530) === '0\n' && value(dir, 535) === '1\n' && unexported(dir) === '535\n', scaled(500));
  assertWithin(ms, 200, 'sysfs: SIGKILL -> inactive and unexported');
  await stderrClosed;
  assert.ok((await until(() => !alive(guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
  const lines = stderr.split('\n').filter(Boolean);
  assert.is(lines.length, 1, stderr);
  assert.match(
    lines[0]!,
    /^gpio guardian: process \d+ ended without releasing its outputs: BCM 18 \(sysfs 530\) -> 0 \(inactive\), unexported; BCM 23 \(sysfs 535\) -> 1 \(inactive, active low\), unexported \(\d+ ms\)$/,
  );
});

test('a normal stop releases the pins first; the guardian then exits without touching them or logging', async () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const a = g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, () => {});
  const b = g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: scaled(500) }, () => {});
  b.active(true);
  const pid = (await g.ready())!;
  assert.ok(alive(pid));
  a.release();
  await sleep(scaled(50));
  assert.ok(alive(pid), 'still guarding the other pin');
  b.release();
  assert.is(g.pid, undefined);
  assert.ok((await until(() => !alive(pid), scaled(1000))) !== undefined, 'the guardian exited');
  assert.equal([value(dir, 530), value(dir, 531), unexported(dir)], ['1\n', '1\n', ''], 'left as the sketch left them');
  assert.equal(log.lines(), []);
  fs.closeSync(log.fd);
});

test('a leased active output is turned off when the sketch hangs, stays exported, and is guarded again by the next write', async () => {
  const dir = fakeGpioDir({ 530: '1\n' });
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const guard = g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: LEASE_MS }, () => {});
  guard.active(true);
  await g.ready();
  await sleep(scaled(300));
  assert.is(value(dir, 530), '1\n', 'refreshed while the event loop runs');

  hang(scaled(400));
  assert.is(value(dir, 530), '0\n', 'turned off while this process hung');
  assert.is(unexported(dir), '', 'still exported');
  assert.match(
    log.lines().join('\n'),
    new RegExp(String.raw`^gpio guardian: BCM 18 \(sysfs 530\) was active for ${LEASE_MS} ms with no refresh from process \d+ \(hung or stopped\?\): -> 0 \(inactive\), still exported$`),
  );

  fs.writeFileSync(path.join(dir, 'gpio530', 'value'), '1\n'); // the sketch drives it again
  guard.active(true);
  await sleep(scaled(200));
  assert.is(value(dir, 530), '1\n', 'refreshed again');
  hang(scaled(400));
  assert.is(value(dir, 530), '0\n', 'the lease runs again after the new write');
  assert.is(log.lines().length, 2);

  guard.release();
  fs.closeSync(log.fd);
});

test('a guardian that was busy itself past a lease reads the refreshes waiting in its pipe before it takes the sketch as hung', async () => {
  // This process plays the guardian (its core, fed from a pipe); `sh` plays the sketch, which
  // sends a refresh while the guardian is blocked (as when it loads koffi for its first line).
  const dir = fakeGpioDir({ 530: '1\n' });
  const lines: string[] = [];
  const core = new GuardianCore({ gpioDir: dir, sketchPid: 4242, log: (l) => lines.push(l) });
  const sketch = spawn('sh', ['-c', 'echo ready; read go; echo refresh; exec sleep 30'], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    const ready = new Promise((r) => sketch.stdout!.once('data', r));
    await ready;
    sketch.stdout!.setEncoding('utf8').on('data', (t: string) => t.split('\n').filter(Boolean).forEach((l) => core.handle(l)));
    core.handle(`hold 530 0 0 ${LEASE_MS} 18`);
    core.handle('active 530');
    sketch.stdin!.write('go\n'); // the refresh is in the pipe within a few ms
    hang(3 * LEASE_MS); // the guardian, busy past the lease
    await sleep(LEASE_MS / 2);
    assert.is(value(dir, 530), '1\n', 'the refresh that waited in the pipe restarted the lease');
    assert.equal(lines, []);
    assert.ok((await until(() => value(dir, 530) === '0\n', scaled(2000))) !== undefined, 'with no refresh after it, the lease still runs out');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(String.raw`^gpio guardian: BCM 18 \(sysfs 530\) was active for ${LEASE_MS} ms with no refresh from process 4242 \(hung or stopped\?\): -> 0 \(inactive\), still exported$`));
  } finally {
    sketch.kill('SIGKILL');
    core.abandon();
  }
});

test('an inactive or unleased output is never turned off by a lease, however long the sketch hangs', async () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const leased = g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: scaled(50) }, () => {});
  const unleased = g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, () => {});
  leased.active(true);
  unleased.active(true);
  await g.ready();
  leased.active(false); // the sketch wrote 0 (the file stands in for what onoff wrote)
  await sleep(scaled(20));
  hang(scaled(300));
  assert.equal([value(dir, 530), value(dir, 531)], ['1\n', '1\n']);
  assert.equal(log.lines(), []);
  leased.release();
  unleased.release();
  fs.closeSync(log.fd);
});

test("two sketches' guardians never touch each other's pins", async () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const logA = logFile(dir);
  const a = new Guardian({ gpioDir: dir, logFd: logA.fd });
  const b = new Guardian({ gpioDir: dir, logFd: logA.fd });
  a.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, () => {});
  const onB = b.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, () => {});
  const [pidA, pidB] = [(await a.ready())!, (await b.ready())!];
  assert.is.not(pidA, pidB);

  a.disconnect(); // as if A's sketch died
  assert.ok((await until(() => value(dir, 530) === '0\n' && unexported(dir) === '530\n', scaled(500))) !== undefined);
  assert.ok((await until(() => !alive(pidA), scaled(1000))) !== undefined);
  assert.is(value(dir, 531), '1\n', "B's pin untouched");
  assert.ok(alive(pidB), "B's guardian still guards it");
  assert.is(logA.lines().length, 1);
  assert.match(logA.lines()[0]!, /sysfs 530/);
  assert.not.match(logA.lines()[0]!, /531/);

  onB.release(); // B stops normally
  assert.ok((await until(() => !alive(pidB), scaled(1000))) !== undefined);
  assert.equal([value(dir, 531), unexported(dir)], ['1\n', '530\n']);
  fs.closeSync(logA.fd);
});

test('the guardian ignores malformed lines and pins it does not hold, never creates a file, and leaves pins the sketch already unexported alone', () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const lines: string[] = [];
  const core = new GuardianCore({ gpioDir: dir, sketchPid: 4242, log: (l) => lines.push(l) });
  for (const bad of ['', 'hold', 'hold 530', 'hold 530 2 0', 'hold 530 0 yes', 'hold ../531 0 0', 'hold 530 0 0 -5', 'hold 530 0 0 10 18 extra', 'active 531', 'release 531', 'inactive 7', 'bogus 530', 'refresh now']) {
    assert.is(core.handle(bad), false, JSON.stringify(bad));
  }
  assert.equal(core.held, []);
  assert.ok(core.handle('hold 530 0 0 0 18'));
  assert.ok(core.handle('hold 532 0 0')); // no gpio532/: already unexported
  assert.ok(core.handle('refresh'));
  const before = fs.readdirSync(dir, { recursive: true }).sort();
  assert.equal(core.abandon(), [530]);
  assert.equal(fs.readdirSync(dir, { recursive: true }).sort(), before, 'no file created');
  assert.equal([value(dir, 530), value(dir, 531), unexported(dir)], ['0\n', '1\n', '530\n']);
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^gpio guardian: process 4242 ended without releasing its outputs: BCM 18 \(sysfs 530\) -> 0 \(inactive\), unexported \(\d+ ms\)$/);

  const quiet: string[] = [];
  const idle = new GuardianCore({ gpioDir: dir, sketchPid: 4242, log: (l) => quiet.push(l) });
  idle.handle('hold 533 0 0');
  assert.equal(idle.abandon(), []);
  assert.equal(quiet, [], 'nothing to do, nothing logged');
});

test('a guardian ignores SIGTERM; one killed while the sketch lives leaves the pins alone and costs one line, and the next hold starts a new one that guards every held pin', async () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const lines: string[] = [];
  const g = new Guardian({ gpioDir: dir });
  g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, (l) => lines.push(l));
  const first = (await g.ready())!;
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(first, signal);
  await sleep(scaled(100));
  assert.ok(alive(first), 'its life is the pipe: signals a stop sends to every process do not end it');
  process.kill(first, 'SIGKILL');
  assert.ok((await until(() => lines.length > 0, scaled(2000))) !== undefined, 'reported');
  assert.equal(lines, [
    `gpio guardian (pid ${first}) was killed by SIGKILL: 1 output(s) still go inactive on a normal stop, but no longer if this process is killed (SIGKILL)`,
  ]);
  assert.equal([value(dir, 530), unexported(dir)], ['1\n', ''], 'the sketch is alive: its pin is left alone');

  g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, (l) => lines.push(l));
  const second = (await g.ready())!;
  assert.is.not(second, first);
  assert.equal(g.held, [530, 531]);
  g.disconnect();
  assert.ok((await until(() => value(dir, 530) === '0\n' && value(dir, 531) === '0\n', scaled(500))) !== undefined, 'both guarded');
});

test('a guardian that cannot start costs one log line: the pin still opens, drives and closes', async () => {
  const lines: string[] = [];
  const g = new Guardian({ gpioDir: fakeGpioDir({}), execPath: '/nonexistent/node' });
  const onoff = fakeOnoff();
  const pin = openOutput(18, { backend: 'sysfs', sysfsRoot: PI4, onoff: onoff.Gpio, guardian: g, lease: 100, log: (l) => lines.push(l) });
  assert.is(await g.ready(), undefined);
  pin.write(1);
  assert.is(pin.read(), 1);
  pin.close();
  assert.equal(onoff.calls, ['export 530 low edge=none active_low=0', 'write 530 0', 'write 530 1', 'write 530 0', 'unexport 530']);
  assert.equal(lines, [
    'gpio guardian could not start (spawn /nonexistent/node ENOENT): outputs still go inactive on a normal stop, but not if this process is killed (SIGKILL)',
  ]);
});

test('openOutput hands a sysfs pin to the guardian once exported, reports writes around them with a lease, and releases it after the unexport', () => {
  const calls: string[] = [];
  const guardian: PinGuardian = {
    hold: (p) => {
      if (p.kind === 'pwm') throw new Error('no PWM channel here');
      calls.push(`hold BCM ${p.pin} sysfs ${p.kind === 'chardev' ? '-' : p.sysfs} inactive=${p.inactiveLevel} activeLow=${p.activeLow} lease=${p.leaseMs}`);
      return { active: (on) => calls.push(`guard ${on ? 'active' : 'inactive'}`), release: () => calls.push('guard release') };
    },
  };
  const onoff = fakeOnoff({ onCall: (line) => calls.push(line) });
  const pin = openOutput(18, { backend: 'sysfs', sysfsRoot: PI4, onoff: onoff.Gpio, guardian, activeLow: true, lease: 250 });
  pin.write(1);
  pin.write(0);
  pin.close();
  assert.equal(calls, [
    'export 530 high edge=none active_low=0',
    'hold BCM 18 sysfs 530 inactive=1 activeLow=true lease=250',
    'write 530 1',
    'guard inactive',
    'guard active',
    'write 530 0',
    'write 530 1',
    'guard inactive',
    'write 530 1',
    'guard inactive',
    'unexport 530',
    'guard release',
  ]);

  calls.length = 0;
  openOutput(18, { backend: 'virtual', guardian, lease: 250, log: () => {} }).close();
  assert.equal(calls, [], 'virtual pins have no guardian');
  openOutput(18, { backend: 'sysfs', sysfsRoot: PI4, onoff: fakeOnoff().Gpio, guardian: false }).close();
  openOutput(18, { backend: 'sysfs', sysfsRoot: PI4, onoff: fakeOnoff().Gpio }).close();
  assert.equal(calls, []);
  assert.is(systemGuardian().pid, undefined, 'a fake onoff never starts the guardian of /sys/class/gpio');
});

test('a lease is a whole number of ms from 0 (none) to one day', () => {
  for (const lease of [-1, 1.5, Number.NaN, 86_400_001]) {
    try {
      openOutput(18, { backend: 'virtual', lease, log: () => {} });
      assert.unreachable(`lease ${lease} accepted`);
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as SketchError).message, /^--lease must be an integer from 0 to 86400000 \(ms; 0 = no lease\), got /);
    }
  }
  openOutput(18, { backend: 'virtual', lease: 86_400_000, log: () => {} }).close();
});

// --- chardev -----------------------------------------------------------------------------------

/** A shared fake chip's directory, removed after the run. */
function sharedDir(config: SharedChipConfig): string {
  const dir = sharedGpioDir(config);
  made.push(dir);
  return dir;
}

/** The calls the guardian (pid) made on the shared chip, without `pid=N `. */
const callsOf = (chip: SharedGpioChip, pid: number) => chip.calls().filter((c) => c.startsWith(`pid=${pid} `)).map((c) => c.slice(c.indexOf(' ') + 1));

interface GuardedChild {
  child: ChildProcess;
  guardianPid: number;
  stderr: () => string;
  stdout: () => string;
  /** Both the child's and the guardian's copies of its stderr are closed. */
  stderrClosed: Promise<unknown>;
  exited: Promise<number | null>;
}
type ChardevSketch = GuardedChild;
type PwmSketch = GuardedChild;

/**
 * Starts a child script (under tsx) leading a process group of its own, and resolves once its
 * stdout matches `ready` (whose group 1 is the guardian's pid). A child that never gets there
 * is SIGKILLed (a child left running would keep the test run alive).
 */
async function guardedChild(script: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<GuardedChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const stderrClosed = new Promise((r) => child.stderr!.on('close', r));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const guardianPid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line: ${out}${stderr}`));
    }, scaled(10_000));
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      const m = ready.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`child exited first: ${out}${stderr}`));
    });
  });
  return { child, guardianPid, stderr: () => stderr, stdout: () => out, stderrClosed, exited };
}

/**
 * Starts test/helpers/gpio-child.ts on the shared chip of `dir`: it requests a line as an
 * output with a guardian on the same chip, drives it active, and prints `ready` once the
 * guardian reads its pipe.
 */
function chardevSketch(dir: string, args: string[] = []): Promise<ChardevSketch> {
  return guardedChild(GPIO_CHILD, ['--backend', 'fake-chardev', '--end', 'signal', ...args], { SKETCH_FAKE_GPIO_DIR: dir }, /^guardian: (\d+)\nready$/m);
}

test('SIGKILL of a sketch holding an active chardev output, on a Raspberry Pi kernel that keeps the line driven: the guardian drives it inactive within milliseconds, releases it, logs one line and exits', async () => {
  const dir = sharedDir({ persistOutputs: true });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir);
  assert.is(chip.level(18), 1, 'sounding');
  assert.equal(chip.info(18), { consumer: 'sketchnet', held: true, output: true, pids: [sketch.child.pid!] });

  process.kill(-sketch.child.pid!, 'SIGKILL');
  const ms = await until(() => chip.level(18) === 0, scaled(2000));
  assertWithin(ms, 500, 'chardev: SIGKILL -> line inactive');
  await sketch.stderrClosed;
  assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
  assert.equal(chip.info(18), { consumer: '', held: false, output: false, pids: [] }, 'released by the guardian');
  assert.is(chip.level(18), 0, 'and it stays inactive: the kernel keeps the level');
  // The killed process's fds may close a moment after its pipe (see the busy-line test): EBUSY first is fine.
  const requests = callsOf(chip, sketch.guardianPid).filter((c) => c.startsWith('GET_LINE'));
  assert.ok(requests.slice(0, -1).every((c) => c.endsWith(': EBUSY')), requests.join('\n'));
  assert.match(requests.at(-1)!, new RegExp(`^GET_LINE 18 consumer=sketchnet-guardian flags=${LineFlag.OUTPUT} level=0: fd=\\d+$`));
  const lines = sketch.stderr().split('\n').filter(Boolean);
  assert.is(lines.length, 1, sketch.stderr());
  assert.match(lines[0]!, /^gpio guardian: process \d+ ended without releasing its outputs: BCM 18 \(\/dev\/gpiochip0 line 18\) -> 0 \(inactive\), released( once free \(busy for \d+ ms\))? \(\d+ ms\)$/);
});

test('an active-low chardev output of a killed sketch is driven back to its inactive high level', async () => {
  const dir = sharedDir({ persistOutputs: true });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir, ['--pin', '23', '--active-low']);
  assert.is(chip.level(23), 0, 'active = low');
  process.kill(-sketch.child.pid!, 'SIGKILL');
  const ms = await until(() => chip.level(23) === 1, scaled(2000));
  assertWithin(ms, 500, 'chardev: SIGKILL -> active-low line inactive (high)');
  await sketch.stderrClosed;
  assert.match(sketch.stderr(), /^gpio guardian: process \d+ ended without releasing its outputs: BCM 23 \(\/dev\/gpiochip0 line 23\) -> 1 \(inactive, active low\), released( once free \(busy for \d+ ms\))? \(\d+ ms\)\n$/);
  assert.ok(callsOf(chip, sketch.guardianPid).some((c) => c.startsWith(`GET_LINE 23 consumer=sketchnet-guardian flags=${LineFlag.OUTPUT} level=1: fd=`)));
});

test('on an upstream kernel (or with dtparam=strict_gpiod) a released line goes back to input: the guardian still drives it inactive once, with its pull-down, which then holds it low', async () => {
  const dir = sharedDir({ persistOutputs: false });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir, ['--bias', 'pull-down']);
  assert.is(chip.level(18), 1);
  process.kill(-sketch.child.pid!, 'SIGKILL');
  await sketch.stderrClosed;
  assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
  const flags = LineFlag.OUTPUT | LineFlag.BIAS_PULL_DOWN;
  assert.ok(callsOf(chip, sketch.guardianPid).some((c) => c.startsWith(`GET_LINE 18 consumer=sketchnet-guardian flags=${flags} level=0: fd=`)), chip.calls().join('\n'));
  assert.equal(chip.info(18), { consumer: '', held: false, output: false, pids: [] }, 'an input again');
  assert.is(chip.level(18), 0, 'pulled down');
  assert.match(sketch.stderr(), /BCM 18 \(\/dev\/gpiochip0 line 18\) -> 0 \(inactive\), released/);
});

test("a chardev sketch's normal stop releases its line first; the guardian then exits without touching it or logging", async () => {
  const dir = sharedDir({ persistOutputs: true });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir);
  sketch.child.kill('SIGTERM'); // the safe-state hook closes the pin, which releases it from the guardian
  assert.is(await sketch.exited, 143);
  await sketch.stderrClosed;
  assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
  assert.equal(callsOf(chip, sketch.guardianPid), [], 'the guardian made no call');
  assert.equal(chip.info(18), { consumer: '', held: false, output: false, pids: [] });
  assert.is(chip.level(18), 0, 'the sketch drove it inactive itself');
  assert.is(sketch.stderr(), '');
});

test("when the dead sketch's line is still busy for a moment after its pipe closed, the guardian asks again every few ms and drives it as soon as it is free", async () => {
  // The fake keeps the dead sketch's line busy for 60 ms from the first call that finds the sketch
  // dead. That call must be the guardian's own (its open before its first request), so this test
  // does not touch the chip (level() is a call too) until the guardian is done: polling it from
  // here started the delay at the SIGKILL, and a guardian slower than 60 ms to get there (QEMU:
  // 200–300 ms) found the line free at once, leaving the retries untested. The delay stays 60 ms
  // at any time scale: it runs inside the guardian's fixed 150 ms window (LINE_BUSY_MS, the
  // product's), which it must stay well inside. How fast the guardian acts: the SIGKILL tests.
  const dir = sharedDir({ persistOutputs: true, releaseDelayMs: 60 });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir);
  process.kill(-sketch.child.pid!, 'SIGKILL');
  await sketch.stderrClosed;
  assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
  assert.is(chip.level(18), 0, 'driven inactive');
  const calls = callsOf(chip, sketch.guardianPid).filter((c) => c.startsWith('GET_LINE'));
  assert.ok(calls.length >= 2, calls.join('\n'));
  assert.ok(calls.slice(0, -1).every((c) => c.endsWith(': EBUSY')), calls.join('\n'));
  assert.match(calls.at(-1)!, /: fd=\d+$/);
  assert.match(sketch.stderr(), /^gpio guardian: process \d+ ended without releasing its outputs: BCM 18 \(\/dev\/gpiochip0 line 18\) -> 0 \(inactive\), released once free \(busy for \d+ ms\) \(\d+ ms\)\n$/);
});

test('a line still busy 150 ms after the pipe closed is left as it is, and the log line says who holds it; other lines are still driven', async () => {
  const chip = new FakeGpioChip({ persistOutputs: true });
  chip.holdExternally(18, 'other-driver');
  const lines: string[] = [];
  const core = new GuardianCore({ gpioDir: fakeGpioDir({}), sketchPid: 4242, log: (l) => lines.push(l), loadSyscalls: () => chip });
  assert.ok(core.handle('hold-line /dev/gpiochip0:18 0 0 0 8 1000 sketchnet%3Abuzzer 18'));
  assert.ok(core.handle(`hold-line /dev/gpiochip0:19 1 1 0 ${LineFlag.OUTPUT | LineFlag.OPEN_DRAIN} 1001 sketchnet GPIO19`));
  await core.settled();
  const started = performance.now();
  assert.equal(core.abandon(), ['/dev/gpiochip0:18', '/dev/gpiochip0:19']);
  const took = performance.now() - started;
  assert.ok(took >= 150 && took < scaled(1000), `gave up after ${took.toFixed(0)} ms`);
  assert.is(chip.level(19), 1, 'the other line went to its inactive level');
  assert.ok(chip.calls.includes('GET_LINE 19 consumer=sketchnet-guardian'));
  assert.is(lines.length, 1);
  assert.match(
    lines[0]!,
    /^gpio guardian: process 4242 ended without releasing its outputs: BCM 18 \(\/dev\/gpiochip0 line 18\): still busy after 150 ms \(held by "other-driver"\), left as it is; GPIO19 \(\/dev\/gpiochip0 line 19\) -> 1 \(inactive, active low\), released \(\d+ ms\)$/,
  );
  assert.is(chip.openFds, 0, 'every fd closed');
});

test('the guardian ignores malformed hold-line messages and lines it does not hold, and forgets a released line', async () => {
  const chip = new FakeGpioChip();
  const lines: string[] = [];
  const core = new GuardianCore({ gpioDir: fakeGpioDir({}), sketchPid: 4242, log: (l) => lines.push(l), loadSyscalls: () => chip });
  for (const bad of [
    'hold-line /dev/gpiochip0:18 0 0 0 8 1000 sketchnet',
    'hold-line /dev/gpiochip0:18 0 0 0 8 1000 sketch net 18',
    'hold-line /dev/../etc/passwd:18 0 0 0 8 1000 sketchnet 18',
    'hold-line gpiochip0:18 0 0 0 8 1000 sketchnet 18',
    'hold-line /dev/gpiochip0 0 0 0 8 1000 sketchnet 18',
    'hold-line /dev/gpiochip0:18 2 0 0 8 1000 sketchnet 18',
    'hold-line /dev/gpiochip0:18 0 0 -1 8 1000 sketchnet 18',
    'hold-line /dev/gpiochip0:18 0 0 0 8 fd sketchnet 18',
    'hold-line /dev/gpiochip0:18 0 0 0 8 1000 a%zz 18',
    'hold /dev/gpiochip0:18 0 0',
    'release /dev/gpiochip0:18',
    'active /dev/gpiochip0:18',
  ]) {
    assert.is(core.handle(bad), false, JSON.stringify(bad));
  }
  assert.equal(core.held, []);
  assert.equal(chip.calls, [], 'nothing loaded or asked before a valid hold-line');
  assert.ok(core.handle('hold-line /dev/gpiochip0:18 0 0 0 8 1000 sketchnet 18'));
  assert.ok(core.handle('hold 530 0 0'));
  assert.equal(core.held, ['/dev/gpiochip0:18', 530]);
  assert.ok(core.handle('release /dev/gpiochip0:18'));
  assert.equal(core.held, [530]);
  await core.settled();
  assert.equal(core.abandon(), [], 'gpio530/ is gone: nothing to do');
  assert.equal(chip.calls.filter((c) => c.startsWith('GET_LINE')), []);
  assert.equal(lines, []);
});

test('a leased active chardev output is turned off through the hung sketch\'s own line request, stays requested by it, and is guarded again by the next write', async () => {
  const dir = sharedDir({ persistOutputs: true });
  const chip = new SharedGpioChip(dir);
  const log = logFile(dir);
  const saved = process.env.SKETCH_FAKE_GPIO_DIR;
  process.env.SKETCH_FAKE_GPIO_DIR = dir; // the guardian process inherits it
  try {
    const g = new Guardian({ logFd: log.fd, syscallsModule: SHARED_GPIO_MODULE });
    // a consumer longer than the kernel's 31 bytes: the guardian compares what the kernel kept
    const consumer = 'sketchnet:a-sketch-with-a-rather-long-name';
    const pin = openOutput(18, { backend: 'chardev', syscalls: chip, guardian: g, lease: LEASE_MS, consumer, log: () => {} });
    pin.write(1);
    const guardianPid = (await g.ready())!;
    await sleep(scaled(300));
    assert.is(chip.level(18), 1, 'refreshed while the event loop runs');

    hang(scaled(400));
    assert.is(chip.level(18), 0, 'turned off while this process hung');
    assert.equal(chip.info(18), { consumer: consumer.slice(0, 31), held: true, output: true, pids: [process.pid] }, 'still requested by this process alone');
    assert.is(pin.read(), 0);
    assert.match(log.lines().join('\n'), new RegExp(String.raw`^gpio guardian: BCM 18 \(\/dev\/gpiochip0 line 18\) was active for ${LEASE_MS} ms with no refresh from process \d+ \(hung or stopped\?\): -> 0 \(inactive\), still requested by it$`));
    assert.ok(callsOf(chip, guardianPid).includes(`SET_VALUES 18=0 consumer=${consumer.slice(0, 31)}`));

    pin.write(1);
    await sleep(scaled(200));
    assert.is(chip.level(18), 1, 'refreshed again');
    hang(scaled(400));
    assert.is(chip.level(18), 0, 'the lease runs again after the new write');
    assert.is(log.lines().length, 2);

    pin.close();
    assert.ok((await until(() => !alive(guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
    assert.equal(chip.info(18).held, false);
    assert.is(log.lines().length, 2);
  } finally {
    if (saved === undefined) delete process.env.SKETCH_FAKE_GPIO_DIR;
    else process.env.SKETCH_FAKE_GPIO_DIR = saved;
    fs.closeSync(log.fd);
  }
});

test("when the guardian may not take the sketch's fds (Yama's ptrace_scope), it says once that a chardev lease cannot work; a stopped sketch's line stays active, and its SIGKILL is still covered", async () => {
  const dir = sharedDir({ persistOutputs: true, takeFdError: 'EPERM' });
  const chip = new SharedGpioChip(dir);
  const sketch = await chardevSketch(dir, ['--lease', String(LEASE_MS)]);
  assert.ok((await until(() => sketch.stderr() !== '', scaled(2000))) !== undefined, 'the notice');
  assert.match(
    sketch.stderr(),
    /^gpio guardian: cannot reach the lines of process \d+ \(EPERM: pidfd_getfd failed \(shared fake chip\); pidfd_getfd needs ptrace access to the sketch: same user, kernel\.yama\.ptrace_scope 0 or 1\): a lease cannot turn off a chardev output while it hangs; its death \(SIGKILL, crash\) is still covered\n$/,
  );
  process.kill(-sketch.child.pid!, 'SIGSTOP');
  await sleep(scaled(300));
  assert.is(chip.level(18), 1, 'the lease could not act');
  process.kill(-sketch.child.pid!, 'SIGKILL');
  assert.ok((await until(() => chip.level(18) === 0, scaled(2000))) !== undefined, 'SIGKILL still covered');
  await sketch.stderrClosed;
  assert.is(sketch.stderr().split('\n').filter(Boolean).length, 2, sketch.stderr());
});

test('the real syscalls take another process\'s fd with pidfd_getfd, as a chardev lease needs', async () => {
  const sys = systemSyscalls();
  if (typeof sys === 'string') {
    console.log(`skipped: ${sys}`);
    return;
  }
  const child = spawn('sleep', ['5'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    await new Promise((r) => child.on('spawn', r));
    let dup: number;
    try {
      dup = sys.takeFd!(child.pid!, 0);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSYS' || code === 'EPERM') {
        console.log(`skipped: pidfd_getfd here: ${(err as Error).message}`);
        return;
      }
      throw err;
    }
    await new Promise((r) => child.stdin!.write('hello', r));
    const buf = Buffer.alloc(16);
    assert.is(buf.toString('utf8', 0, fs.readSync(dup, buf)), 'hello', "the child's stdin, read through the duplicate");
    sys.close(dup);
    assert.throws(() => sys.takeFd!(child.pid!, 999), (err: NodeJS.ErrnoException) => err.code === 'EBADF');
    try {
      sys.allowPtracer!(child.pid!);
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'EINVAL', 'only refused where Yama is absent');
    }
  } finally {
    child.kill('SIGKILL');
  }
});

test('without the test seam the guardian loads the real syscalls (koffi) once a line is held: a chip it cannot open costs a part of its one line', async () => {
  const dir = fakeGpioDir({});
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const spec = { kind: 'chardev', pin: 'GPIO18', chip: '/dev/gpiochip-missing', offset: 18, inactiveLevel: 0, activeLow: false, flags: LineFlag.OUTPUT, fd: 999, consumer: 'sketchnet' } as const;
  g.hold({ ...spec, leaseMs: LEASE_MS }, () => {}).active(true); // a lease: the sketch allows the guardian as its ptracer (a no-op without Yama)
  const pid = (await g.ready())!;
  await sleep(scaled(300)); // koffi loads; the lease probe finds no fd 999 here and stays quiet; refreshes keep the lease from running out
  assert.equal(log.lines(), []);
  g.disconnect();
  assert.ok((await until(() => !alive(pid), scaled(2000))) !== undefined, 'the guardian exited');
  const sys = systemSyscalls();
  const why = typeof sys === 'string' ? `cannot request the line \\(${sys.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)` : 'cannot open /dev/gpiochip-missing \\(ENOENT: open failed \\(/dev/gpiochip-missing\\) \\(errno 2\\)\\)';
  assert.match(log.lines().join('\n'), new RegExp(`^gpio guardian: process ${process.pid} ended without releasing its outputs: GPIO18 \\(/dev/gpiochip-missing line 18\\): ${why} \\(\\d+ ms\\)$`), log.lines().join('\n'));
  fs.closeSync(log.fd);
});

test('openOutput hands a chardev line to the guardian once requested, reports writes around them with a lease, and releases it after the line is closed', () => {
  const calls: string[] = [];
  const guardian: PinGuardian = {
    hold: (p) => {
      calls.push(`hold ${JSON.stringify(p)}`);
      return { active: (on) => calls.push(`guard ${on ? 'active' : 'inactive'}`), release: () => calls.push('guard release') };
    },
  };
  const chip = new FakeGpioChip({ persistOutputs: true });
  const pin = openOutput(18, { backend: 'chardev', syscalls: chip, guardian, activeLow: true, lease: 250, bias: 'pull-up', consumer: 'sketchnet:buzzer' });
  const fd = Number(/"fd":(\d+)/.exec(calls[0]!)![1]);
  const mark = () => calls.push(`kernel: level ${chip.level(18)} held=${chip.info(18).held}`);
  mark();
  pin.write(1);
  mark();
  pin.close();
  mark();
  assert.equal(calls, [
    `hold {"kind":"chardev","pin":18,"chip":"/dev/gpiochip0","offset":18,"inactiveLevel":1,"activeLow":true,"leaseMs":250,"flags":${LineFlag.OUTPUT | LineFlag.BIAS_PULL_UP},"fd":${fd},"consumer":"sketchnet:buzzer"}`,
    'guard inactive',
    'kernel: level 1 held=true',
    'guard active',
    'kernel: level 0 held=true',
    'guard inactive',
    'guard release',
    'kernel: level 1 held=false',
  ]);

  calls.length = 0;
  openOutput(18, { backend: 'chardev', syscalls: chip, guardian: false }).close();
  openOutput(18, { backend: 'chardev', syscalls: chip }).close();
  assert.equal(calls, []);
  assert.is(systemGuardian().pid, undefined, 'a fake chip never starts the shared guardian');
});

// --- PWM ---------------------------------------------------------------------------------------
// A fake sysfs PWM tree in a temporary directory (test/helpers/fake-pwm.ts), served by the fake
// kernel in this process: it creates `pwmchip0/pwm0/` on an export and, on an unexport, logs the
// channel's files as they were (`enable=0` proves the guardian silenced it first) and removes it.

/** A fake Pi 4 PWM tree with its kernel running, removed after the run. */
function pwmTree() {
  const root = fakePwmTree(PI4_PWM);
  made.push(root);
  const kernel = startFakePwmKernel(root);
  return { root, kernel, enable: () => pwmFile(root, 'pwmchip0', 0, 'enable') };
}

/**
 * Starts test/helpers/pwm-child.ts on the tree under `root` (SKETCH_SYSFS_ROOT): it opens
 * pwmchip0/pwm0 at 440 Hz with openPwm's defaults (so the shared guardian), sounds it, and
 * prints `ready <guardian pid>` once the guardian reads its pipe.
 */
function pwmSketch(root: string, args: string[] = []): Promise<PwmSketch> {
  return guardedChild(PWM_CHILD, args, { SKETCH_SYSFS_ROOT: root }, /^ready (\d+)$/m);
}

/** SIGKILLs what is left of a PWM sketch's process group after a failed test (nothing after a passing one). */
function reap(sketch: PwmSketch | undefined): void {
  try {
    if (sketch && sketch.child.exitCode === null && sketch.child.signalCode === null) process.kill(-sketch.child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

test('SIGKILL of a sketch sounding a PWM tone: the guardian writes enable 0, then unexports the channel, within 500 ms, logs one line and exits', async () => {
  const { root, kernel, enable } = pwmTree();
  let sketch: PwmSketch | undefined;
  try {
    sketch = await pwmSketch(root);
    assert.is(enable(), '1', 'sounding');
    assert.equal(kernel.log, ['export pwmchip0 0']);

    process.kill(-sketch.child.pid!, 'SIGKILL');
    const unexported = () => kernel.log.some((l) => l.startsWith('unexport pwmchip0 0'));
    const ms = await until(() => enable() === '0' || unexported(), scaled(2000));
    assertWithin(ms, 500, 'pwm: SIGKILL -> enable 0 (or unexported)');
    assert.ok((await until(unexported, scaled(1000))) !== undefined, kernel.log.join('\n'));
    assert.equal(kernel.log, ['export pwmchip0 0', 'unexport pwmchip0 0 period=2272727 duty_cycle=1136363 enable=0'], 'silenced, then unexported');
    await sketch.stderrClosed;
    assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
    const lines = sketch.stderr().split('\n').filter(Boolean);
    assert.is(lines.length, 1, sketch.stderr());
    assert.match(lines[0]!, /^gpio guardian: process \d+ ended without releasing its outputs: BCM 18 \(PWM pwmchip0\/pwm0\) -> enable 0 \(silent\), unexported \(\d+ ms\)$/);
  } finally {
    reap(sketch);
    kernel.stop();
  }
});

test("a PWM sketch's normal stop silences and unexports the channel itself; the guardian then exits without touching it or logging", async () => {
  const { root, kernel, enable } = pwmTree();
  let sketch: PwmSketch | undefined;
  try {
    sketch = await pwmSketch(root);
    assert.is(enable(), '1');
    sketch.child.kill('SIGTERM'); // the safe-state hook closes the channel, which releases it from the guardian
    assert.is(await sketch.exited, 143);
    await sketch.stderrClosed;
    assert.ok((await until(() => !alive(sketch.guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
    assert.ok((await until(() => kernel.log.length === 2, scaled(1000))) !== undefined, kernel.log.join('\n'));
    await sleep(scaled(20)); // the kernel would see a second unexport within 2 ms
    assert.equal(kernel.log, ['export pwmchip0 0', 'unexport pwmchip0 0 period=2272727 duty_cycle=1136363 enable=0'], 'one unexport, the sketch\'s');
    assert.is(sketch.stderr(), '');
  } finally {
    reap(sketch);
    kernel.stop();
  }
});

test('a leased sounding PWM tone is silenced when the sketch hangs, stays exported, and is guarded again by the next write of 1', async () => {
  const { root, kernel, enable } = pwmTree();
  const log = logFile(root);
  const g = new Guardian({ logFd: log.fd });
  try {
    const pwm = await openPwm({ sysfsRoot: root, io: kernel.io, guardian: g, lease: LEASE_MS });
    assert.equal(g.held, [path.join(root, 'class/pwm/pwmchip0/pwm0')]);
    pwm.write(1);
    const guardianPid = (await g.ready())!;
    await sleep(scaled(300));
    assert.is(enable(), '1', 'refreshed while the event loop runs');

    hang(scaled(400));
    assert.is(enable(), '0', 'silenced while this process hung');
    assert.is(pwm.read(), 0);
    assert.match(
      log.lines().join('\n'),
      new RegExp(String.raw`^gpio guardian: BCM 18 \(PWM pwmchip0\/pwm0\) was active for ${LEASE_MS} ms with no refresh from process \d+ \(hung or stopped\?\): -> enable 0 \(silent\), still exported$`),
    );
    await sleep(scaled(20));
    assert.equal(kernel.log, ['export pwmchip0 0'], 'still exported');

    pwm.write(1);
    await sleep(scaled(200));
    assert.is(enable(), '1', 'refreshed again');
    hang(scaled(400));
    assert.is(enable(), '0', 'the lease runs again after the new write');
    assert.is(log.lines().length, 2);

    pwm.write(1);
    pwm.write(0); // silent on purpose: no lease runs
    hang(scaled(300));
    assert.is(log.lines().length, 2);

    pwm.close();
    assert.ok((await until(() => !alive(guardianPid), scaled(1000))) !== undefined, 'the guardian exited');
    assert.is(log.lines().length, 2);
  } finally {
    kernel.stop();
    fs.closeSync(log.fd);
  }
});

test('the guardian ignores malformed hold-pwm lines, takes a channel directory with a space, forgets a released channel, and leaves one the sketch already unexported alone', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sketchnet guardian pwm '));
  made.push(base);
  const chip = path.join(base, 'pwmchip0');
  fs.mkdirSync(chip);
  fs.writeFileSync(path.join(chip, 'unexport'), '');
  for (const n of [0, 1]) {
    fs.mkdirSync(path.join(chip, `pwm${n}`));
    fs.writeFileSync(path.join(chip, `pwm${n}`, 'enable'), '1\n');
  }
  const id = (n: number) => encodeURI(path.join(chip, `pwm${n}`));
  const lines: string[] = [];
  const core = new GuardianCore({ gpioDir: fakeGpioDir({}), sketchPid: 4242, log: (l) => lines.push(l) });
  for (const bad of [
    'hold-pwm',
    `hold-pwm ${id(0)}`,
    `hold-pwm ${id(0)} 0`,
    `hold-pwm ${id(0)} 0 18 extra`,
    `hold-pwm ${id(0)} -1 18`,
    `hold-pwm ${id(0)} 0 GPIO18`,
    'hold-pwm sys/class/pwm/pwmchip0/pwm0 0 18',
    'hold-pwm /sys/class/pwm/pwmchip0/../pwmchip1/pwm0 0 18',
    'hold-pwm /sys/class/pwm/pwmchip0//pwm0 0 18',
    'hold-pwm /sys/class/pwm/pwmchip0/pwm0/ 0 18',
    'hold-pwm /sys/class/gpio/gpio530 0 18',
    'hold-pwm /sys/class/pwm/pwmchip0/enable 0 18',
    'hold-pwm /sys/class/pwm/pwmchip0/pwm%E0%A4%A 0 18',
    `release ${id(1)}`,
    `active ${id(0)}`,
  ]) {
    assert.is(core.handle(bad), false, JSON.stringify(bad));
  }
  assert.equal(core.held, []);
  assert.ok(core.handle(`hold-pwm ${id(0)} 0 18`));
  assert.ok(core.handle(`hold-pwm ${id(1)} 0 19`));
  assert.ok(core.handle(`hold-pwm ${encodeURI(path.join(chip, 'pwm2'))} 0 12`)); // no pwm2/: already unexported
  assert.equal(core.held, [0, 1, 2].map((n) => path.join(chip, `pwm${n}`)));
  assert.ok(core.handle(`release ${id(1)}`), 'the sketch closed pwm1');
  const before = fs.readdirSync(base, { recursive: true }).sort();
  assert.equal(core.abandon(), [path.join(chip, 'pwm0')]);
  assert.equal(fs.readdirSync(base, { recursive: true }).sort(), before, 'no file created');
  assert.equal(
    ['pwm0', 'pwm1'].map((c) => fs.readFileSync(path.join(chip, c, 'enable'), 'utf8')).concat(fs.readFileSync(path.join(chip, 'unexport'), 'utf8')),
    ['0\n', '1\n', '0\n'],
  );
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^gpio guardian: process 4242 ended without releasing its outputs: BCM 18 \(PWM pwmchip0\/pwm0\) -> enable 0 \(silent\), unexported \(\d+ ms\)$/);
});

test.run();
