import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild, type ChildResult } from './helpers/child.js';

// Each test runs test/helpers/gpio-child.ts as a real process: it opens BCM 18, makes it
// active, prints "ready", and is then signalled or fails; its stdout shows what the pin did.

const CHILD = fileURLToPath(new URL('./helpers/gpio-child.ts', import.meta.url));
const PI4 = fileURLToPath(new URL('./fixtures/gpio-pi4-6.6', import.meta.url));

function gpioChild(args: string[], signal?: NodeJS.Signals): Promise<ChildResult> {
  return runChild(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    env: { SKETCH_SYSFS_ROOT: PI4 },
    onLine: (line, child) => {
      if (signal && line === 'ready') child.kill(signal);
    },
  });
}

/** The lines printed after "ready", i.e. what happened to the pin while the process ended. */
function afterReady(r: ChildResult): string[] {
  const i = r.lines.indexOf('ready');
  assert.ok(i >= 0, `child never got ready:\n${r.lines.join('\n')}\n${r.stderr}`);
  return r.lines.slice(i + 1);
}

function exitReport(r: ChildResult): { code: number; open: number[]; closed: boolean } {
  const line = r.lines.find((l) => l.startsWith('exit: '));
  assert.ok(line, `no exit report:\n${r.lines.join('\n')}\n${r.stderr}`);
  return JSON.parse(line!.slice('exit: '.length));
}

test('SIGTERM drives an active virtual pin inactive, releases it and exits 143 when nothing else handles it', async () => {
  const r = await gpioChild(['--backend', 'virtual', '--end', 'signal'], 'SIGTERM');
  assert.ok(r.lines.includes('active: read=1'));
  assert.equal(afterReady(r), ['pin 18 -> 0', 'exit: {"code":143,"open":[],"closed":true}']);
  assert.is(r.code, 143);
  assert.is(r.stderr, '');
});

test('SIGINT drives the pin inactive, releases it and exits 130', async () => {
  const r = await gpioChild(['--backend', 'virtual', '--end', 'signal'], 'SIGINT');
  assert.equal(afterReady(r), ['pin 18 -> 0', 'exit: {"code":130,"open":[],"closed":true}']);
  assert.is(r.code, 130);
});

test('SIGTERM writes the inactive level to a sysfs pin and unexports it', async () => {
  const r = await gpioChild(['--backend', 'fake-sysfs', '--end', 'signal'], 'SIGTERM');
  assert.equal(r.lines.slice(0, 2), ['onoff: export 530 low edge=none active_low=0', 'onoff: write 530 0']);
  assert.equal(afterReady(r), ['onoff: write 530 0', 'onoff: unexport 530', 'exit: {"code":143,"open":[],"closed":true}']);
});

test('an active-low sysfs pin goes back to physical level 1 on SIGTERM', async () => {
  const r = await gpioChild(['--backend', 'fake-sysfs', '--active-low', '--end', 'signal'], 'SIGTERM');
  assert.ok(r.lines.includes('onoff: write 530 0'), 'active = physical 0');
  assert.equal(afterReady(r).slice(0, 2), ['onoff: write 530 1', 'onoff: unexport 530']);
  assert.is(r.code, 143);
});

test("with the CLI's own SIGTERM handler the pins are already released when it runs, and it decides the exit status", async () => {
  const r = await gpioChild(['--backend', 'virtual', '--cli-handler', '--end', 'signal'], 'SIGTERM');
  assert.equal(afterReady(r), [
    'pin 18 -> 0',
    'cli handler: SIGTERM open=[]',
    'exit: {"code":0,"open":[],"closed":true}',
  ]);
  assert.is(r.code, 0);
});

test('an uncaught exception releases the pins, prints one line and exits 1', async () => {
  const r = await gpioChild(['--backend', 'fake-sysfs', '--end', 'throw']);
  assert.equal(afterReady(r), ['onoff: write 530 0', 'onoff: unexport 530', 'exit: {"code":1,"open":[],"closed":true}']);
  assert.is(r.stderr, 'uncaught exception: boom in loop\n');
  assert.is(r.code, 1);
});

test('an unhandled rejection releases the pins, prints one line and exits 1', async () => {
  const r = await gpioChild(['--backend', 'virtual', '--end', 'reject']);
  assert.equal(afterReady(r), ['pin 18 -> 0', 'exit: {"code":1,"open":[],"closed":true}']);
  assert.is(r.stderr, 'unhandled rejection: nobody awaited this\n');
  assert.is(r.code, 1);
});

test('SIGKILL cannot be caught: the pin is left active and exported', async () => {
  const r = await gpioChild(['--backend', 'fake-sysfs', '--end', 'signal'], 'SIGKILL');
  assert.equal(afterReady(r), []);
  assert.ok(r.lines.includes('onoff: write 530 1'));
  assert.is(r.signal, 'SIGKILL');
});

test('installSafeState is idempotent: a second call adds no listeners', async () => {
  const once = await gpioChild(['--backend', 'virtual', '--end', 'signal'], 'SIGTERM');
  const twice = await gpioChild(['--backend', 'virtual', '--install-twice', '--end', 'signal'], 'SIGTERM');
  const listeners = (r: ChildResult) => r.lines.find((l) => l.startsWith('listeners: '));
  assert.ok(listeners(once));
  assert.is(listeners(twice), listeners(once));
  assert.is(twice.code, 143);
});

test.run();
