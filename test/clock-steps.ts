/**
 * Wall-clock steps under libfaketime (Debian's `faketime`): the thermometer's process sees its
 * wall clock stepped +1 day, then back 1 hour, while its monotonic clock runs on
 * (FAKETIME_DONT_FAKE_MONOTONIC=1). Skipped without libfaketime.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, sleep } from './helpers/net.js';

const LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1'].find((f) => existsSync(f));

test('a 10 Hz thermometer stepped +1 day then −1 hour keeps sampling at 10 Hz, seq gapless, its status rate and interval the real ones, one line per step', async () => {
  if (!LIB) return console.log('  skipped: libfaketime is not installed (apt-get install faketime)');
  const file = join(mkdtempSync(join(tmpdir(), 'faketime-')), 'offset');
  writeFileSync(file, '+0\n');
  const env = { LD_PRELOAD: LIB, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
  const t = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.1', '--no-mdns', '--host', '127.0.0.1'], env);
  try {
    const port = Number((await t.waitFor(/serving on [^:]+:\d+/)).split(':').at(-1));
    await sleep(1500);
    writeFileSync(file, '+1d\n');
    await sleep(1500);
    writeFileSync(file, '+23h\n'); // back one hour
    await sleep(1500);
    const status = (await (await fetch(`http://127.0.0.1:${port}/.well-known/sketch`)).json()) as {
      streams: Record<string, { seq: number; rate: number; interval: { mean: number }; history: { firstSeq: number; items: number } }>;
    };
    const readings = status.streams['/readings']!;
    // 4.5 s at 10 Hz (start-up aside): nothing stopped after the backward step, nothing bunched after the forward one
    assert.ok(readings.seq >= 38 && readings.seq <= 50, `${readings.seq} readings in 4.5 s`);
    assert.is(readings.history.items, readings.seq, 'every seq held: gapless');
    assert.ok(readings.rate > 7 && readings.rate < 12, `rate ${readings.rate}/s: the real one, from the monotonic clock`);
    assert.ok(Math.abs(readings.interval.mean - 0.1) < 0.02, `interval ${readings.interval.mean} s`);
    const out = t.stdout() + t.stderr();
    assert.match(out, /wall clock stepped \+86400\.\d s/);
    assert.match(out, /wall clock stepped -3600\.\d s/);
    assert.is(out.match(/wall clock stepped/g)!.length, 2, out);
  } finally {
    t.child.kill('SIGTERM');
    await t.exited();
  }
});

test('a recorder --keep 1h whose clock is stepped +1 day then −1 hour purges nothing younger than an hour and stores every reading', async () => {
  if (!LIB) return console.log('  skipped: libfaketime is not installed (apt-get install faketime)');
  const dir = mkdtempSync(join(tmpdir(), 'faketime-'));
  const file = join(dir, 'offset');
  writeFileSync(file, '+0\n');
  const env = { LD_PRELOAD: LIB, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
  const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const therm = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.1', '--name', `therm-${id}`, '--host', '127.0.0.1'], env);
  const rec = cli(['run', 'recorder', '--db', join(dir, 'r.db'), '--keep', '1h', '--rescan', '1', '--name', `rec-${id}`, '--host', '127.0.0.1'], env);
  try {
    const port = (c: typeof rec) => Number(/serving on [^:]+:(\d+)/.exec(c.stdout())![1]);
    await Promise.all([therm.waitFor(/serving on/), rec.waitFor(/serving on/)]);
    await rec.waitFor(new RegExp(`therm-${id}/readings: recording`), 15_000);
    await sleep(1500);
    writeFileSync(file, '+1d\n');
    await sleep(2000);
    writeFileSync(file, '+23h\n');
    await sleep(2000);
    const seq = ((await (await fetch(`http://127.0.0.1:${port(therm)}/.well-known/sketch`)).json()) as { streams: Record<string, { seq: number }> }).streams['/readings']!.seq;
    await sleep(500); // the recorder's batch
    const recorded = (await (await fetch(`http://127.0.0.1:${port(rec)}/recorded`)).json()) as Array<{ sketch: string; count: number; seq: number }>;
    const mine = recorded.find((r) => r.sketch === `therm-${id}`)!;
    assert.ok(mine, JSON.stringify(recorded));
    assert.ok(mine.count >= seq - 2, `${mine.count} rows stored, the thermometer at seq ${seq}: nothing purged`);
    assert.match(rec.stdout() + rec.stderr(), /wall clock stepped \+86400/);
  } finally {
    therm.child.kill('SIGTERM');
    rec.child.kill('SIGTERM');
    await Promise.all([therm.exited(), rec.exited()]);
  }
});

test.run();
