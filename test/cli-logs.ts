import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, connect, frames, runCli, SKETCH_BIN, withCli, type Cli } from './helpers/net.js';

const CRC_NO = fileURLToPath(new URL('./fixtures/sensors-ds18b20-crc-no', import.meta.url)); // a DS18B20 whose every read fails its CRC
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A simulated thermometer at 20 Hz without mDNS, with `extra` options. */
const thermometer = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
  cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--no-mdns', '--host', '127.0.0.1', ...extra], env);

/** Waits until a subscriber of the sketch's /readings got `n` readings (so that `n` were taken), then stops it with SIGINT; its exit code. */
async function afterReadings(t: Cli, n: number): Promise<number> {
  await t.waitFor(/serving on/);
  const port = Number(/serving on [^:]+:(\d+)/.exec(t.stdout())![1]);
  const ws = await connect(`ws://127.0.0.1:${port}/readings?new`);
  await frames(ws, n);
  ws.close();
  t.child.kill('SIGINT');
  return t.exited();
}

test('by default a 20 Hz thermometer prints no reading; --verbose prints every one', async () => {
  const quiet = thermometer([]);
  assert.is(await afterReadings(quiet, 5), 0);
  assert.match(quiet.stdout(), /serving on/);
  assert.not.match(quiet.stdout(), /°C from simulated/);
  const verbose = thermometer(['--verbose']);
  assert.is(await afterReadings(verbose, 5), 0);
  assert.ok((verbose.stdout().match(/°C from simulated/g) ?? []).length >= 5, verbose.stdout());
});

test('--log-format json: every line is one object with time (ISO 8601), sketch, level and message', async () => {
  const name = unique('jsonlog');
  const t = thermometer(['--log-format', 'json', '--verbose', '--name', name]);
  assert.is(await afterReadings(t, 3), 0);
  const lines = t.stdout().trimEnd().split('\n');
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const r of records) {
    assert.equal(Object.keys(r), ['time', 'sketch', 'level', 'message']);
    assert.match(String(r.time), ISO);
    assert.is(r.sketch, name);
    assert.ok(['error', 'warn', 'info', 'debug'].includes(String(r.level)), String(r.level));
  }
  assert.ok(records.some((r) => r.level === 'info' && /^serving on 127\.0\.0\.1:\d+ \(mDNS off\)$/.test(String(r.message))));
  assert.ok(records.some((r) => r.level === 'debug' && /°C from simulated$/.test(String(r.message))));
  assert.ok(records.some((r) => r.level === 'info' && /^\*\* new client connected, path=\/readings$/.test(String(r.message))), 'connections are printed');
});

test('--quiet prints warnings (a failing sensor) and nothing else; without it, info lines too', async () => {
  const args = ['run', 'thermometer', '--sensor', 'ds18b20', '--interval', '0.05', '--no-mdns', '--host', '127.0.0.1'];
  const quiet = cli([...args, '--quiet'], { SKETCH_SYSFS_ROOT: CRC_NO });
  await quiet.waitFor(/sensor read failed: .*CRC/);
  quiet.child.kill('SIGINT');
  assert.is(await quiet.exited(), 0);
  const lines = quiet.stdout().trimEnd().split('\n');
  assert.is(lines.length, 1, quiet.stdout());
  assert.match(lines[0]!, /\[ Thermometer \] sensor read failed: /);
  const normal = cli(args, { SKETCH_SYSFS_ROOT: CRC_NO });
  await normal.waitFor(/sensor read failed: .*CRC/);
  await normal.waitFor(/serving on/);
  normal.child.kill('SIGINT');
  assert.is(await normal.exited(), 0);
  assert.match(normal.stdout(), /SIGINT: stopping/);
});

test('--quiet and --verbose together are a usage error (exit 2)', async () => {
  const r = await runCli(['run', 'thermometer', '--quiet', '--verbose', '--no-mdns']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /quiet.*verbose|verbose.*quiet/);
});

test('text lines start with the time when stdout is a pipe, and not when JOURNAL_STREAM is set (journald stamps them): a syslog priority instead', async () => {
  const piped = thermometer([]);
  await piped.waitFor(/serving on/);
  piped.child.kill('SIGINT');
  assert.is(await piped.exited(), 0);
  for (const line of piped.stdout().trimEnd().split('\n')) {
    const [stamp, ...rest] = line.split(' ');
    assert.match(stamp!, ISO);
    assert.match(rest.join(' '), /^\[ Thermometer \] /);
  }
  const journal = thermometer([], { JOURNAL_STREAM: '8:123456' });
  await journal.waitFor(/serving on/);
  journal.child.kill('SIGINT');
  assert.is(await journal.exited(), 0);
  const lines = journal.stdout().trimEnd().split('\n');
  assert.ok(lines.some((l) => /^<6>\[ Thermometer \] serving on 127\.0\.0\.1:\d+ \(mDNS off\)$/.test(l)), journal.stdout());
  for (const line of lines) assert.match(line, /^<[3467]>\[ Thermometer \] /);
});

test('--no-log-time leaves the time out on a pipe, --log-time puts it in under journald', async () => {
  const without = thermometer(['--no-log-time']);
  await without.waitFor(/serving on/);
  without.child.kill('SIGINT');
  assert.is(await without.exited(), 0);
  for (const line of without.stdout().trimEnd().split('\n')) assert.match(line, /^\[ Thermometer \] /);
  const withTime = thermometer(['--log-time'], { JOURNAL_STREAM: '8:123456' });
  await withTime.waitFor(/serving on/);
  withTime.child.kill('SIGINT');
  assert.is(await withTime.exited(), 0);
  for (const line of withTime.stdout().trimEnd().split('\n')) assert.match(line, /^<[3467]>\d{4}-\d\d-\d\dT\S+Z \[ Thermometer \] /);
});

test('sketch demo on a terminal: its children print their lines without a time, as the terminal shows them', async () => {
  if (!existsSync('/usr/bin/script')) return console.log('  skipped: demo on a terminal: util-linux script(1) is not installed');
  // script(1) gives the demo a pseudo-terminal for stdout; its children write into pipes to the demo.
  const r = spawnSync('/usr/bin/script', ['-qec', `${process.execPath} ${SKETCH_BIN} demo --tacks 1 --delay 0 --gpio virtual`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, JOURNAL_STREAM: '' },
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.split(/\r?\n/).filter((l) => l.includes('[ '));
  assert.ok(lines.some((l) => /^\[ Clock \] < /.test(l)), r.stdout);
  for (const l of lines) assert.match(l, /^\[ [^\]]+ \] /);
});

test('the clock says once that it looks for its peer over mDNS, before its first tick is acknowledged', async () => {
  const name = unique('lookedfor');
  await withCli(['run', 'iopin', '--name', name], /announced as/, async () => {
    const clock = await runCli(['run', 'clock', '--tacks', '3', '--delay', '0', '--to', name]);
    assert.is(clock.code, 0, clock.stderr);
    const lines = clock.stdout.split('\n');
    const looking = lines.filter((l) => l.includes(`looking for "${name}" over mDNS…`));
    assert.is(looking.length, 1, clock.stdout);
    assert.ok(lines.indexOf(looking[0]!) < lines.findIndex((l) => /\[ Clock \] < /.test(l)), clock.stdout);
  });
});

test('a clock whose peer never answers says "looking for" once, then the not-found error', async () => {
  const name = unique('nobody');
  const clock = await runCli(['run', 'clock', '--tacks', '1', '--to', name, '--discover-timeout', '0.5']);
  assert.is(clock.code, 1);
  assert.is((clock.stdout.match(new RegExp(`looking for "${name}" over mDNS…`, 'g')) ?? []).length, 1, clock.stdout);
  assert.match(clock.stderr, /^sketch: /);
});

test.run();
