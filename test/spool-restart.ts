/**
 * `--spool` across a SIGKILL: a thermometer `--to` an absent receiver, with a subscriber on its
 * `/readings`, killed after a few seconds and started again on the same spool; then the receiver
 * appears and the subscriber resumes. Real processes, real mDNS, in the sandbox.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { reactive, Sketch } from '../runtime/index.js';
import { cli, connect, sleep } from './helpers/net.js';

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

/** A `sketchnet.v2` subscriber's frames so far: the epoch it was told and the items' seq and time. */
function v2Frames(frames: string[]): { epoch?: string; items: Array<{ seq: number; time: number }> } {
  const parsed = frames.map((f) => JSON.parse(f) as { subscribed?: { epoch: string }; seq?: number; time?: number });
  return {
    epoch: parsed.find((f) => f.subscribed)?.subscribed?.epoch,
    items: parsed.filter((f) => f.seq !== undefined).map((f) => ({ seq: f.seq!, time: f.time! })),
  };
}

test('after a SIGKILL and a restart on the same spool, every reading taken for an absent receiver arrives once, in order, and a subscriber resuming with ?after_seq gets the next seqs of the same epoch', async () => {
  const spool = join(mkdtempSync(join(tmpdir(), 'spool-')), 'thermometer.db');
  const args = ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', `therm-${id}`, '--to', `recv-${id}`, '--spool', spool, '--host', '127.0.0.1', '--verbose'];
  const port = (serving: string) => serving.match(/:(\d+)$/)![1]!;
  const first = cli(args);
  const seen: string[] = [];
  const sub = await connect(`ws://127.0.0.1:${port(await first.waitFor(/serving on \S+:\d+/))}/readings`, [SUBPROTOCOL], (f) => seen.push(f));
  await sleep(2500);
  first.child.kill('SIGKILL');
  await first.exited();
  sub.terminate();
  const before = v2Frames(seen);
  const last = before.items.at(-1)!;
  assert.ok(before.epoch && before.items.length >= 20, `${before.items.length} items seen before the kill`);
  // the readings it took, each printed with --verbose: "[ … ] 20.939 °C from simulated"
  const taken = [...first.stdout().matchAll(/\] (-?[0-9.]+) °C from/g)].map((m) => m[1]!);
  assert.ok(taken.length >= 20, `${taken.length} readings before the kill`);

  const second = cli(args);
  const receiver = new Receiver({ name: `recv-${id}`, log: () => {} });
  try {
    const resumed: string[] = [];
    const again = await connect(`ws://127.0.0.1:${port(await second.waitFor(/serving on \S+:\d+/))}/readings?after_seq=${last.seq}`, [SUBPROTOCOL], (f) => resumed.push(f));
    for (let i = 0; i < 100 && v2Frames(resumed).items.length < 10; i++) await sleep(50);
    again.close();
    // the same epoch, the seq going on from the last one seen: no hole, nothing seen again
    const after = v2Frames(resumed);
    assert.is(after.epoch, before.epoch);
    assert.equal(after.items.slice(0, 10).map((i) => i.seq), Array.from({ length: 10 }, (_, i) => last.seq + 1 + i));
    assert.ok(after.items[0]!.time > last.time, 'the next reading, not one seen');

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
