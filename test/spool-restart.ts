/**
 * `--spool` across a SIGKILL: a thermometer `--to` an absent receiver, killed after a few
 * seconds and started again on the same spool; then the receiver appears. Real processes, real
 * mDNS, in the sandbox.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch } from '../runtime/index.js';
import { cli, sleep } from './helpers/net.js';

const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;

class Receiver extends Sketch {
  readonly got: Array<{ time: number; temperature: number }> = [];
  @reactive
  override loop(_c: string, message: string): string {
    const v = JSON.parse(message) as { time: number; temperature: number } | Array<{ time: number; temperature: number }>;
    for (const r of Array.isArray(v) ? v : [v]) this.got.push(r);
    return 'ok';
  }
}

test('every reading a thermometer took for an absent receiver before a SIGKILL arrives exactly once, in order, after a restart on the same spool', async () => {
  const spool = join(mkdtempSync(join(tmpdir(), 'spool-')), 'thermometer.db');
  const args = ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', `therm-${id}`, '--to', `recv-${id}`, '--spool', spool, '--host', '127.0.0.1', '--verbose'];
  const first = cli(args);
  await first.waitFor(/serving on/);
  await sleep(2500);
  first.child.kill('SIGKILL');
  await first.exited();
  // the readings it took, each printed with --verbose: "[ … ] 20.939 °C from simulated"
  const taken = [...first.stdout().matchAll(/\] (-?[0-9.]+) °C from/g)].map((m) => m[1]!);
  assert.ok(taken.length >= 20, `${taken.length} readings before the kill`);

  const second = cli(args);
  const receiver = new Receiver({ name: `recv-${id}`, log: () => {} });
  try {
    await second.waitFor(/serving on/);
    await receiver.run({ host: '127.0.0.1' });
    for (let i = 0; i < 200 && receiver.got.length < taken.length; i++) await sleep(50);
    // the first of what arrives are the readings taken before the kill, each once, in order
    // (a reading taken in the instant of the kill may not have reached the spool: at most one)
    const first = receiver.got.slice(0, taken.length).map((r) => r.temperature.toFixed(3));
    const lostAtKill = taken.length - first.filter((t, i) => t === taken[i]).length;
    assert.ok(lostAtKill <= 1, `received ${JSON.stringify(first.slice(0, 8))}… taken ${JSON.stringify(taken.slice(0, 8))}…`);
    for (let i = 1; i < receiver.got.length; i++) assert.ok(receiver.got[i]!.time > receiver.got[i - 1]!.time, 'in order, none twice');
  } finally {
    second.child.kill('SIGTERM');
    await second.exited();
    await receiver.close();
  }
});

test.run();
