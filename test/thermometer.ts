import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch } from '../runtime/index.js';
import Thermometer from '../sketches/thermometer.js';
import { SketchError } from '../runtime/errors.js';
import type { SensorOptions } from '../runtime/hardware/sensors.js';
import { cli, connect, frames, runCli, sleep, type Cli } from './helpers/net.js';

const PI = fileURLToPath(new URL('./fixtures/sensors-pi', import.meta.url));
const EMPTY = fileURLToPath(new URL('./fixtures/gpio-x86-6.6', import.meta.url)); // no sensors at all
const RECEIVER = fileURLToPath(new URL('./fixtures/sketches/receiver.ts', import.meta.url));
const DS18B20 = 'bus/w1/devices/28-0316a2795aff';
const W1_YES = '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n';
const W1_CRC_NO = 'ff ff ff ff ff ff ff ff ff : crc=c9 NO\n91 01 4b 46 7f ff 0c 10 70 t=-62\n';
const W1_POWER_ON = '50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n';

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A copy of the Pi sysfs fixture (DS18B20, thermal zone, hwmon) that a test may rewrite. */
async function piCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sketchnet-thermometer-'));
  await cp(PI, dir, { recursive: true });
  return dir;
}

/** Resolves once `check()` is true; fails with `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** How many times `pattern` (global) occurs in the child's stdout. */
const count = (c: Cli, pattern: RegExp) => c.stdout().match(pattern)?.length ?? 0;

async function withRoot<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.SKETCH_SYSFS_ROOT;
  process.env.SKETCH_SYSFS_ROOT = root;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.SKETCH_SYSFS_ROOT;
    else process.env.SKETCH_SYSFS_ROOT = before;
  }
}

/** A thermometer reading the sysfs tree at `root`, listening on 127.0.0.1 without mDNS. */
function thermometer(root: string, config: ConstructorParameters<typeof Thermometer>[0]) {
  return withRoot(root, async () => {
    const t = new Thermometer({ discovery: false, log: () => {}, ...config });
    await t.run({ host: '127.0.0.1' });
    return t;
  });
}

test('a client on /readings receives each new reading as one JSON frame with time, °C and sensor id', async () => {
  const lines: string[] = [];
  const t = await thermometer(PI, { log: (l) => lines.push(l), options: { interval: 0.02 } });
  const ws = await connect(`ws://127.0.0.1:${t.address!.port}/readings`);
  const before = Date.now() / 1000;
  const main = t.main();
  const readings = (await frames(ws, 3)).map((f) => JSON.parse(f));
  for (const r of readings) {
    assert.equal(Object.keys(r).sort(), ['sensor', 'temperature', 'time', 'unit']);
    assert.is(r.temperature, 23.125);
    assert.is(r.unit, '°C');
    assert.is(r.sensor, 'ds18b20:28-0316a2795aff');
    assert.ok(r.time >= before - 0.05 && r.time <= Date.now() / 1000 + 0.0015, `time ${r.time} is when it was sampled`); // the wall clock follows Date.now() within 1 ms
  }
  assert.ok(readings[0].time < readings[2].time);
  assert.ok(lines.some((l) => /reading DS18B20/.test(l)), lines.join('\n'));
  ws.close();
  await t.close();
  await main; // ends with the sketch
});

test('with no real sensor, auto falls back to simulated readings, labelled so in readings and logs', async () => {
  const lines: string[] = [];
  const t = await thermometer(EMPTY, { log: (l) => lines.push(l), options: { interval: 0.01 } });
  const ws = await connect(`ws://127.0.0.1:${t.address!.port}/readings`);
  const main = t.main();
  const [r] = (await frames(ws, 1)).map((f) => JSON.parse(f));
  assert.is(r.sensor, 'simulated');
  assert.ok(lines.some((l) => /no readable temperature sensor .*: using simulated readings/.test(l)), lines.join("\n"));
  ws.close();
  await t.close();
  await main;
});

test('--to forwards every reading through the outbox; a missing peer never stops sampling or publishing', async () => {
  const got: string[] = [];
  const sink = new (class Sink extends Sketch {
    @reactive override async loop(_c: string, m: string) {
      got.push(m);
      return 'stored';
    }
  })({ discovery: false, log: () => {} });
  const { url } = await sink.run({ host: '127.0.0.1' });
  const t = await thermometer(PI, { to: url, options: { sensor: 'thermal', interval: 0.01 } });
  const main = t.main();
  while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
  await t.close();
  await main;
  const r = JSON.parse(got[0]!);
  assert.is(r.sensor, 'thermal:thermal_zone0:cpu-thermal');
  assert.is(r.temperature, 47.774);
  await sink.close();

  // nobody listens on this port: readings are still taken and published, and held for the peer
  const lines: string[] = [];
  const lonely = await thermometer(PI, {
    to: `ws://127.0.0.1:${await freePort()}/`,
    log: (l) => lines.push(l),
    options: { sensor: 'thermal', interval: 0.01, queue: 5 },
  });
  const ws = await connect(`ws://127.0.0.1:${lonely.address!.port}/readings`);
  const running = lonely.main();
  assert.is((await frames(ws, 10)).length, 10);
  const forward = lonely.outbox(lonely.to!).status();
  assert.is(forward.connected, false);
  assert.ok(forward.queued + forward.inFlight <= 5, JSON.stringify(forward));
  assert.ok(forward.dropped > 0, JSON.stringify(forward));
  assert.is(lines.filter((l) => /unreachable .*: buffering, retrying$/.test(l)).length, 1, lines.join('\n'));
  // the status says so too: the outbox under forward, the sensor's health under sensor
  const status = JSON.parse(await (await fetch(`http://127.0.0.1:${lonely.address!.port}/.well-known/sketch`)).text());
  const fw = status.forward[lonely.to!];
  assert.is(fw.connected, false);
  assert.ok(fw.dropped > 0 && fw.queued + fw.inFlight <= 5, JSON.stringify(fw));
  assert.equal(status.sensor, { errors: 0, failing: false });
  assert.is(status.streams['/readings'].delivery, 'latest');
  ws.close();
  await lonely.close();
  await running;
  assert.ok(lines.some((l) => /closing: 5 item\(s\) not delivered to ws:/.test(l)), lines.join('\n'));
});

test('any other message is answered with the latest reading', async () => {
  const t = await thermometer(PI, { options: { sensor: 'hwmon' } });
  const ws = await connect(t.address!.url);
  const got = frames(ws, 1);
  ws.send('now?');
  const r = JSON.parse((await got)[0]!);
  assert.match(r.sensor, /^hwmon:/);
  ws.close();
  await t.close();
});

test('sketch run thermometer --sensor ds18b20 without one prints one clear line, exit 1', async () => {
  const r = await runCli(['run', 'thermometer', '--sensor', 'ds18b20', '--no-mdns'], { SKETCH_SYSFS_ROOT: EMPTY });
  assert.is(r.code, 1);
  assert.match(r.stderr.split('\n')[0]!, /^sketch: no DS18B20 .*/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test('sketch run thermometer streams readings until SIGINT, then exits 0', async () => {
  const child = cli(['run', 'thermometer', '--interval', '0.05', '--no-mdns', '--host', '127.0.0.1'], { SKETCH_SYSFS_ROOT: PI });
  await child.waitFor(/serving on/);
  const port = /serving on [^:]+:(\d+)/.exec(child.stdout())![1];
  const ws = await connect(`ws://127.0.0.1:${port}/readings`);
  const [f] = await frames(ws, 1);
  assert.is(JSON.parse(f!).temperature, 23.125);
  child.child.kill('SIGINT');
  assert.is(await child.exited(), 0);
});

/** A thermometer on the fixture DS18B20 under `root`, sampling every 20 ms, logging into `lines`. */
function ds18b20Thermometer(root: string, lines: string[]) {
  return new Thermometer({
    discovery: false,
    log: (l) => lines.push(l),
    options: { sensor: 'ds18b20', interval: 0.02 },
    sensorOptions: { sysfsRoot: root, retryDelay: 0 },
  });
}

/** Runs `t` on 127.0.0.1 and connects one subscriber to its /readings. */
async function runWithSubscriber(t: Thermometer) {
  await t.run({ host: '127.0.0.1' });
  return connect(`ws://127.0.0.1:${t.address!.port}/readings`);
}

test('a DS18B20 answering crc=… NO at start-up does not end the thermometer: one line, then the first good reading is published', async () => {
  const root = await piCopy();
  const w1 = path.join(root, DS18B20, 'w1_slave');
  await writeFile(w1, W1_CRC_NO);
  const lines: string[] = [];
  const t = ds18b20Thermometer(root, lines);
  try {
    const ws = await runWithSubscriber(t);
    const main = t.main();
    await until(() => t.sensorStatus.errors >= 3, 'three failed samples');
    assert.equal(t.sensorStatus, { ...t.sensorStatus, failing: true });
    assert.match(t.sensorStatus.lastError!, /CRC check failed \(crc=… NO\)/);
    const next = frames(ws, 1);
    await writeFile(w1, W1_YES);
    const [r] = (await next).map((f) => JSON.parse(f));
    assert.is(r.temperature, 23.125);
    assert.is(t.sensorStatus.failing, false);
    const failed = lines.filter((l) => /sensor read failed: /.test(l));
    assert.is(failed.length, 1, lines.join('\n'));
    assert.match(failed[0]!, /^\[ Thermometer \] sensor read failed: cannot read ds18b20:28-0316a2795aff .*CRC check failed.*; still sampling every 0\.02 s$/);
    assert.is(lines.filter((l) => /readings resumed after \d+ failed sample\(s\) over [\d.]+ s$/.test(l)).length, 1, lines.join('\n'));
    ws.close();
    await t.close();
    await main; // ends with the sketch, not before
  } finally {
    await t.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('mid-run glitches (the 85 °C power-on value, a vanished 1-Wire device that comes back) are logged once per burst and sampling goes on', async () => {
  const root = await piCopy();
  const device = path.join(root, DS18B20);
  const lines: string[] = [];
  const t = ds18b20Thermometer(root, lines);
  try {
    const ws = await runWithSubscriber(t);
    const got: number[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)).temperature));
    const main = t.main();
    await until(() => got.length >= 2, 'two readings');

    await writeFile(path.join(device, 'w1_slave'), W1_POWER_ON);
    await until(() => t.sensorStatus.errors >= 3, 'failed samples (85 °C)');
    assert.match(t.sensorStatus.lastError!, /85 °C power-on value/);
    const before = got.length;
    await writeFile(path.join(device, 'w1_slave'), W1_YES);
    await until(() => got.length > before + 1 && !t.sensorStatus.failing, 'readings again');

    const saved = await mkdtemp(path.join(tmpdir(), 'sketchnet-w1-'));
    await cp(device, saved, { recursive: true });
    await rm(device, { recursive: true });
    const errors = t.sensorStatus.errors;
    await until(() => t.sensorStatus.errors >= errors + 3, 'failed samples (device gone)');
    assert.match(t.sensorStatus.lastError!, /the file is gone \(sensor removed\?\)/);
    const during = got.length;
    await cp(saved, device, { recursive: true });
    await until(() => got.length > during + 1, 'readings after the device came back');
    await rm(saved, { recursive: true, force: true });

    assert.ok(got.every((c) => c === 23.125), `only good readings are published: ${got.join(', ')}`);
    assert.equal(t.sensorStatus, { errors: t.sensorStatus.errors, failing: false, lastError: t.sensorStatus.lastError });
    assert.is(lines.filter((l) => /sensor read failed: /.test(l)).length, 2, lines.join('\n'));
    assert.is(lines.filter((l) => /readings resumed after /.test(l)).length, 2, lines.join('\n'));
    ws.close();
    await t.close();
    await main;
  } finally {
    await t.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('an I/O error (EIO) on every read for a while never ends the thermometer; a thermal zone unreadable at start-up is opened again later', async () => {
  let failing = true;
  const reads = { temp: 0 };
  const readFile: SensorOptions['readFile'] = async (file) => {
    if (file.endsWith('/temp')) {
      reads.temp++;
      if (failing) throw Object.assign(new Error(`EIO: i/o error, read`), { code: 'EIO' });
    }
    return (await import('node:fs/promises')).readFile(file, 'utf8');
  };
  const lines: string[] = [];
  const t = new Thermometer({
    discovery: false,
    log: (l) => lines.push(l),
    options: { sensor: 'thermal', interval: 0.01 },
    sensorOptions: { sysfsRoot: PI, readFile },
  });
  await t.run({ host: '127.0.0.1' }); // the first read fails inside openSensor: not fatal
  assert.equal(t.sensorStatus, { errors: 1, failing: true, lastError: t.sensorStatus.lastError });
  assert.match(t.sensorStatus.lastError!, /EIO/);
  const ws = await connect(`ws://127.0.0.1:${t.address!.port}/readings`);
  const main = t.main();
  await until(() => reads.temp >= 5, 'more read attempts');
  failing = false;
  const [r] = (await frames(ws, 1)).map((f) => JSON.parse(f));
  assert.is(r.sensor, 'thermal:thermal_zone0:cpu-thermal');
  assert.is(t.sensorStatus.failing, false);
  assert.ok(t.sensorStatus.errors >= 4, JSON.stringify(t.sensorStatus));
  assert.is(lines.filter((l) => /sensor read failed: .*EIO/.test(l)).length, 1, lines.join('\n'));
  assert.is(lines.filter((l) => /reading thermal zone thermal_zone0/.test(l)).length, 1, lines.join('\n'));
  ws.close();
  await t.close();
  await main;
});

test('a --rate that does not parse is refused when the thermometer is made (SKETCH_ERR_INVALID_OPTION)', () => {
  try {
    new Thermometer({ discovery: false, options: { rate: '30 per 10s' } });
    assert.unreachable('accepted a bad rate');
  } catch (err) {
    assert.instance(err, SketchError);
    assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
    assert.match((err as Error).message, /^--rate must be MESSAGES or MESSAGES\/PERIOD/);
  }
  const ok = new Thermometer({ discovery: false, options: { rate: '30/10s' } });
  void ok.close();
});

test('sketch run thermometer --rate fast is a usage error: one line, exit 2', async () => {
  const r = await runCli(['run', 'thermometer', '--rate', 'fast', '--no-mdns'], { SKETCH_SYSFS_ROOT: PI });
  assert.is(r.code, 2);
  assert.match(r.stderr.split('\n')[0]!, /^sketch: --rate must be MESSAGES or MESSAGES\/PERIOD, e\.g\. .*got "fast"$/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test('sketch run thermometer --to: a receiver absent at start, then up, then SIGKILLed and restarted gets every reading in order with no holes; the thermometer never exits and /readings misses nothing', async () => {
  const port = await freePort();
  const therm = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--to', `ws://127.0.0.1:${port}/`, '--no-mdns', '--host', '127.0.0.1', '--verbose']);
  const receivers: Cli[] = [];
  const receiver = () => {
    const r = cli(['run', RECEIVER, '--port', String(port), '--no-mdns', '--host', '127.0.0.1']);
    receivers.push(r);
    return r;
  };
  /** Reading times each receiver got, in arrival order (a batch is a JSON array). */
  const received = (r: Cli): number[] =>
    [...r.stdout().matchAll(/^(?:\S+Z )?\[ Receiver \] got (.*)$/gm)].flatMap((m) => {
      const value = JSON.parse(m[1]!) as unknown;
      return (Array.isArray(value) ? value : [value]).map((x: { time: number }) => x.time);
    });
  try {
    await therm.waitFor(/serving on/);
    const thermPort = /serving on [^:]+:(\d+)/.exec(therm.stdout())![1];
    const ws = await connect(`ws://127.0.0.1:${thermPort}/readings`);
    const seen: { time: number; temperature: number }[] = [];
    ws.on('message', (d) => seen.push(JSON.parse(String(d))));

    await therm.waitFor(/unreachable \(.*\): buffering, retrying/); // absent at start
    await sleep(300);
    const first = receiver();
    await until(() => count(therm, /is back: delivered \d+ item\(s\) held while it was away/g) === 1, 'the first return', 6000);
    await sleep(300);
    first.child.kill('SIGKILL');
    assert.is(await first.exited(), 137);
    await until(() => count(therm, /unreachable \(.*\): buffering, retrying/g) === 2, 'the loss to be noticed');
    await sleep(300);
    const second = receiver();
    await until(() => count(therm, /is back: /g) === 2, 'the second return', 6000);
    const last = seen.at(-1)!.time;
    await until(() => received(second).includes(last), 'the newest reading at the restarted receiver');
    assert.is(therm.child.exitCode, null, 'the thermometer is still running');

    // every receiver's items, first occurrence of each time: in order, no holes
    const times = [...new Set([...received(first), ...received(second)])];
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! > times[i - 1]!, `out of order at ${i}: ${times.slice(i - 2, i + 2)}`);
    const upTo = times.indexOf(last);
    const subscriber = seen.map((r) => r.time);
    // the subscriber got every reading from its first on, and so did the receivers
    assert.equal(times.slice(times.indexOf(subscriber[0]!), upTo + 1), subscriber.slice(0, subscriber.indexOf(last) + 1));
    ws.close();
    therm.child.kill('SIGINT');
    assert.is(await therm.exited(), 0);
    // and the receivers got exactly the first readings the thermometer took, from its very first
    const taken = [...therm.stdout().matchAll(/^(?:\S+Z )?\[ Thermometer \] (-?[\d.]+) °C from simulated$/gm)].map((m) => Number(m[1]));
    const temps = new Map<number, number>();
    for (const r of [first, second]) {
      for (const m of r.stdout().matchAll(/^(?:\S+Z )?\[ Receiver \] got (.*)$/gm)) {
        const value = JSON.parse(m[1]!) as unknown;
        for (const x of (Array.isArray(value) ? value : [value]) as { time: number; temperature: number }[]) temps.set(x.time, x.temperature);
      }
    }
    assert.equal(times.map((time) => temps.get(time)), taken.slice(0, times.length));
    // both receivers got readings (how many depends on how fast the processes start: a count would time them)
    assert.ok(received(first).length > 0 && received(second).length > 0 && times.length >= 10, `${times.length} readings delivered`);
    assert.is(therm.stderr(), '');
  } finally {
    therm.child.kill('SIGKILL');
    for (const r of receivers) r.child.kill('SIGKILL');
  }
});

test.run();
