import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEMO_STOP_DEADLINE_MS, stopInReverse } from '../bin/demo.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'demo-stop-'));

/**
 * A child Node.js process that prints `ready`, then on SIGTERM prints `stop NAME` and exits
 * after `lingerMs` — or, with `ignoreTerm`, ignores SIGTERM (only SIGKILL ends it).
 */
function child(name: string, options: { lingerMs?: number; ignoreTerm?: boolean } = {}): { proc: ChildProcess; ready: Promise<void> } {
  const code = options.ignoreTerm
    ? `process.on('SIGTERM', () => console.log('ignored ${name}')); console.log('ready'); setInterval(() => {}, 1000);`
    : `process.on('SIGTERM', () => { console.log('stop ${name}'); setTimeout(() => process.exit(0), ${options.lingerMs ?? 0}); }); console.log('ready'); setInterval(() => {}, 1000);`;
  // Laid out as the demo's children are (node, script, run, NAME): the demo names them by those words.
  const script = path.join(dir, `${name}.cjs`);
  writeFileSync(script, code);
  const proc = spawn(process.execPath, [script, 'run', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve) => proc.stdout!.setEncoding('utf8').once('data', () => resolve()));
  return { proc, ready };
}

/** Records the order in which `procs` close. */
function closeOrder(procs: ChildProcess[], names: string[]): string[] {
  const order: string[] = [];
  procs.forEach((p, i) => p.once('close', () => order.push(names[i]!)));
  return order;
}

test('children are stopped newest first, each closed before the next gets SIGTERM', async () => {
  const names = ['buzzer', 'iopin', 'clock'];
  // The newest lingers a little: were the others signalled at once, they would close before it.
  const kids = names.map((n, i) => child(n, { lingerMs: i === 2 ? 200 : 0 }));
  await Promise.all(kids.map((k) => k.ready));
  const procs = kids.map((k) => k.proc);
  const order = closeOrder(procs, names);
  await stopInReverse(procs, 5000);
  assert.equal(order, ['clock', 'iopin', 'buzzer']);
  assert.ok(procs.every((p) => p.exitCode === 0), 'each exited on its own, with 0');
});

/** Starts `kids`, stops them with stopInReverse(deadline, grace), and returns them with the lines it printed on stderr. */
async function stopCapturing(kids: Array<ReturnType<typeof child>>, deadlineMs: number, graceMs: number) {
  await Promise.all(kids.map((k) => k.ready));
  const procs = kids.map((k) => k.proc);
  const lines: string[] = [];
  const error = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    await stopInReverse(procs, deadlineMs, graceMs);
  } finally {
    console.error = error;
  }
  return { procs, lines };
}

test(`past the deadline (default ${DEMO_STOP_DEADLINE_MS} ms) the older children get SIGTERM at once and a grace; one that ignores SIGTERM is killed, one line`, async () => {
  const { procs, lines } = await stopCapturing([child('buzzer'), child('iopin'), child('stubborn', { ignoreTerm: true })], 300, 1000);
  assert.is(procs[2]!.signalCode, 'SIGKILL');
  assert.is(procs[1]!.exitCode, 0, 'the iopin still got its SIGTERM and stopped cleanly');
  assert.is(procs[0]!.exitCode, 0, 'the buzzer too');
  assert.equal(lines, ['sketch demo: run stubborn did not stop within 300 ms: killed']);
});

test('with no grace left, every child still running is killed, and stopInReverse still resolves once all closed', async () => {
  const { procs, lines } = await stopCapturing([child('buzzer', { ignoreTerm: true }), child('stubborn', { ignoreTerm: true })], 100, 0);
  assert.equal(procs.map((p) => p.signalCode), ['SIGKILL', 'SIGKILL']);
  assert.equal(lines, ['sketch demo: run stubborn did not stop within 100 ms: killed', 'sketch demo: run buzzer did not stop within 100 ms: killed']);
});

test('children that already exited are skipped', async () => {
  const kids = [child('buzzer'), child('gone')];
  await Promise.all(kids.map((k) => k.ready));
  const procs = kids.map((k) => k.proc);
  procs[1]!.kill('SIGKILL');
  await new Promise((r) => procs[1]!.once('close', r));
  await stopInReverse(procs, 5000);
  assert.is(procs[0]!.exitCode, 0);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
