import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/errors.js';
import { openOutput } from '../runtime/hardware/gpio.js';
import { Guardian, systemGuardian, type PinGuardian } from '../runtime/hardware/guardian.js';
import { GuardianCore } from '../runtime/hardware/guardian-process.js';
import { ROOT } from './helpers/child.js';
import { fakeOnoff } from './helpers/fake-onoff.js';

// The guardian process runs for real on a fake sysfs GPIO directory: a temporary directory
// with an `unexport` file and `gpioN/value` files, standing in for /sys/class/gpio (no kernel
// behind it, so an unexport shows as the number written to `unexport`). The real onoff and
// the fake kernel are in test/gpio-onoff.ts.

const CHILD = fileURLToPath(new URL('./helpers/guardian-child.ts', import.meta.url));
const PI4 = fileURLToPath(new URL('./fixtures/gpio-pi4-6.6', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    setTimeout(() => reject(new Error(`no ready line: ${out}${stderr}`)), 10_000);
  });
  assert.equal([value(dir, 530), value(dir, 535)], ['1\n', '0\n'], 'both sounding');

  process.kill(-child.pid!, 'SIGKILL');
  const ms = await until(() => value(dir, 530) === '0\n' && value(dir, 535) === '1\n' && unexported(dir) === '535\n', 500);
  assert.ok(ms !== undefined && ms < 200, `inactive and unexported after ${ms?.toFixed(1)} ms`);
  await stderrClosed;
  assert.ok((await until(() => !alive(guardianPid), 1000)) !== undefined, 'the guardian exited');
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
  const b = g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 500 }, () => {});
  b.active(true);
  const pid = (await g.ready())!;
  assert.ok(alive(pid));
  a.release();
  await sleep(50);
  assert.ok(alive(pid), 'still guarding the other pin');
  b.release();
  assert.is(g.pid, undefined);
  assert.ok((await until(() => !alive(pid), 1000)) !== undefined, 'the guardian exited');
  assert.equal([value(dir, 530), value(dir, 531), unexported(dir)], ['1\n', '1\n', ''], 'left as the sketch left them');
  assert.equal(log.lines(), []);
  fs.closeSync(log.fd);
});

test('a leased active output is turned off when the sketch hangs, stays exported, and is guarded again by the next write', async () => {
  const dir = fakeGpioDir({ 530: '1\n' });
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const guard = g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: 100 }, () => {});
  guard.active(true);
  await g.ready();
  await sleep(300);
  assert.is(value(dir, 530), '1\n', 'refreshed while the event loop runs');

  hang(400);
  assert.is(value(dir, 530), '0\n', 'turned off while this process hung');
  assert.is(unexported(dir), '', 'still exported');
  assert.match(
    log.lines().join('\n'),
    /^gpio guardian: BCM 18 \(sysfs 530\) was active for 100 ms with no refresh from process \d+ \(hung or stopped\?\): -> 0 \(inactive\), still exported$/,
  );

  fs.writeFileSync(path.join(dir, 'gpio530', 'value'), '1\n'); // the sketch drives it again
  guard.active(true);
  await sleep(200);
  assert.is(value(dir, 530), '1\n', 'refreshed again');
  hang(400);
  assert.is(value(dir, 530), '0\n', 'the lease runs again after the new write');
  assert.is(log.lines().length, 2);

  guard.release();
  fs.closeSync(log.fd);
});

test('an inactive or unleased output is never turned off by a lease, however long the sketch hangs', async () => {
  const dir = fakeGpioDir({ 530: '1\n', 531: '1\n' });
  const log = logFile(dir);
  const g = new Guardian({ gpioDir: dir, logFd: log.fd });
  const leased = g.hold({ pin: 18, sysfs: 530, inactiveLevel: 0, activeLow: false, leaseMs: 50 }, () => {});
  const unleased = g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, () => {});
  leased.active(true);
  unleased.active(true);
  await g.ready();
  leased.active(false); // the sketch wrote 0 (the file stands in for what onoff wrote)
  await sleep(20);
  hang(300);
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
  assert.ok((await until(() => value(dir, 530) === '0\n' && unexported(dir) === '530\n', 500)) !== undefined);
  assert.ok((await until(() => !alive(pidA), 1000)) !== undefined);
  assert.is(value(dir, 531), '1\n', "B's pin untouched");
  assert.ok(alive(pidB), "B's guardian still guards it");
  assert.is(logA.lines().length, 1);
  assert.match(logA.lines()[0]!, /sysfs 530/);
  assert.not.match(logA.lines()[0]!, /531/);

  onB.release(); // B stops normally
  assert.ok((await until(() => !alive(pidB), 1000)) !== undefined);
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
  await sleep(100);
  assert.ok(alive(first), 'its life is the pipe: signals a stop sends to every process do not end it');
  process.kill(first, 'SIGKILL');
  assert.ok((await until(() => lines.length > 0, 2000)) !== undefined, 'reported');
  assert.equal(lines, [
    `gpio guardian (pid ${first}) was killed by SIGKILL: 1 output(s) still go inactive on a normal stop, but no longer if this process is killed (SIGKILL)`,
  ]);
  assert.equal([value(dir, 530), unexported(dir)], ['1\n', ''], 'the sketch is alive: its pin is left alone');

  g.hold({ pin: 19, sysfs: 531, inactiveLevel: 0, activeLow: false, leaseMs: 0 }, (l) => lines.push(l));
  const second = (await g.ready())!;
  assert.is.not(second, first);
  assert.equal(g.held, [530, 531]);
  g.disconnect();
  assert.ok((await until(() => value(dir, 530) === '0\n' && value(dir, 531) === '0\n', 500)) !== undefined, 'both guarded');
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
      calls.push(`hold BCM ${p.pin} sysfs ${p.sysfs} inactive=${p.inactiveLevel} activeLow=${p.activeLow} lease=${p.leaseMs}`);
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

test.run();
