import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch } from '../runtime/index.js';
import Thermometer from '../sketches/thermometer.js';
import { cli, connect, frames, runCli } from './helpers/net.js';

const PI = fileURLToPath(new URL('./fixtures/sensors-pi', import.meta.url));
const EMPTY = fileURLToPath(new URL('./fixtures/gpio-x86-6.6', import.meta.url)); // no sensors at all

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
    assert.ok(r.time >= before - 0.05 && r.time <= Date.now() / 1000, `time ${r.time} is when it was sampled`);
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

test('--to pushes every reading to a peer with stream()', async () => {
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

test.run();
