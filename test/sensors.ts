import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SketchError } from '../runtime/errors.js';
import {
  findSensors,
  openSensor,
  parseW1Slave,
  resolveSysfsRoot,
  type SensorOptions,
} from '../runtime/hardware/sensors.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => path.join(FIXTURES, `sensors-${name}`);
const W1_YES = '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n';
/** No delay between DS18B20 re-reads, so failure tests stay fast. */
const fast: SensorOptions = { retryDelay: 0 };

/** Copies a fixture tree into a fresh temp dir (for tests that rewrite files). */
async function tempCopy(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sketchnet-sensors-'));
  await cp(fixture(name), dir, { recursive: true });
  return dir;
}

/** Runs `fn` and returns the SketchError it throws (fails the test when it does not throw one). */
async function thrown(fn: () => Promise<unknown>): Promise<SketchError> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, SketchError);
    return err as SketchError;
  }
  assert.unreachable('expected a SketchError');
  throw new Error('unreachable');
}

/** A readFile that counts reads of files named `basename`. */
function countingReader(basename: string, after?: (file: string, count: number) => Promise<void>) {
  const reader = {
    count: 0,
    read: async (file: string) => {
      const text = await readFile(file, 'utf8');
      if (path.basename(file) === basename) {
        reader.count++;
        await after?.(file, reader.count);
      }
      return text;
    },
  };
  return reader;
}

// --- parseW1Slave --------------------------------------------------------------------

test('parses the CRC verdict, temperature and scratchpad of a w1_slave file', () => {
  assert.equal(parseW1Slave(W1_YES), {
    crcOk: true,
    milliCelsius: 23125,
    scratchpad: [0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10, 0x57],
  });
});

test('parses a failed CRC check and a negative temperature', () => {
  const no = parseW1Slave('ff ff ff ff ff ff ff ff ff : crc=c9 NO\n91 01 4b 46 7f ff 0c 10 70 t=-62\n');
  assert.is(no.crcOk, false);
  assert.is(no.milliCelsius, -62);
  const cold = parseW1Slave('5e ff 4b 46 7f ff 02 10 b6 : crc=b6 YES\n5e ff 4b 46 7f ff 02 10 b6 t=-10125\n');
  assert.is(cold.crcOk, true);
  assert.is(cold.milliCelsius, -10125);
});

test('parses empty or garbled w1_slave text as no CRC and no temperature', () => {
  assert.equal(parseW1Slave(''), { crcOk: false, milliCelsius: null, scratchpad: [] });
  assert.equal(parseW1Slave('hello\nworld\n'), { crcOk: false, milliCelsius: null, scratchpad: [] });
});

// --- sysfs root ----------------------------------------------------------------------

test('takes the sysfs root from the option, else SKETCH_SYSFS_ROOT, else /sys', () => {
  const saved = process.env['SKETCH_SYSFS_ROOT'];
  try {
    delete process.env['SKETCH_SYSFS_ROOT'];
    assert.is(resolveSysfsRoot(), '/sys');
    process.env['SKETCH_SYSFS_ROOT'] = '/tmp/fake-sys';
    assert.is(resolveSysfsRoot(), '/tmp/fake-sys');
    assert.is(resolveSysfsRoot('/explicit'), '/explicit');
  } finally {
    if (saved === undefined) delete process.env['SKETCH_SYSFS_ROOT'];
    else process.env['SKETCH_SYSFS_ROOT'] = saved;
  }
});

test('opens the sensors under SKETCH_SYSFS_ROOT when no root option is given', async () => {
  const saved = process.env['SKETCH_SYSFS_ROOT'];
  try {
    process.env['SKETCH_SYSFS_ROOT'] = fixture('hwmon');
    const { sensor } = await openSensor('auto');
    assert.is(sensor.id, 'hwmon:hwmon2:coretemp:Package id 0');
  } finally {
    if (saved === undefined) delete process.env['SKETCH_SYSFS_ROOT'];
    else process.env['SKETCH_SYSFS_ROOT'] = saved;
  }
});

// --- discovery -----------------------------------------------------------------------

test('lists every real sensor in auto order: DS18B20, thermal zones, hwmon channels', async () => {
  const found = await findSensors(fixture('pi'));
  assert.equal(
    found.map((s) => [s.kind, s.id]),
    [
      ['ds18b20', 'ds18b20:28-0316a2795aff'],
      ['thermal', 'thermal:thermal_zone0:cpu-thermal'],
      ['hwmon', 'hwmon:hwmon0:cpu_thermal:temp1'],
    ],
  );
  assert.is(found[0]!.path, path.join(fixture('pi'), 'bus/w1/devices/28-0316a2795aff/w1_slave'));
});

test('lists hwmon channels by chip then channel number, with labels, skipping chips without temperatures', async () => {
  const found = await findSensors(fixture('x86'));
  assert.equal(
    found.map((s) => s.id),
    [
      'thermal:thermal_zone0:acpitz',
      'thermal:thermal_zone1:x86_pkg_temp',
      'hwmon:hwmon0:acpitz:temp1',
      'hwmon:hwmon2:nvme:Composite',
      'hwmon:hwmon2:nvme:Sensor 1',
      'hwmon:hwmon3:coretemp:Package id 0',
      'hwmon:hwmon3:coretemp:Core 0',
      'hwmon:hwmon3:coretemp:Core 8',
    ],
  );
});

test('lists nothing for an empty or missing sysfs tree', async () => {
  const empty = await mkdtemp(path.join(tmpdir(), 'sketchnet-sensors-'));
  try {
    assert.equal(await findSensors(empty), []);
    assert.equal(await findSensors(path.join(empty, 'does-not-exist')), []);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

// --- DS18B20 -------------------------------------------------------------------------

test('reads a DS18B20 from w1_slave in °C', async () => {
  const { sensor, fellBack } = await openSensor('ds18b20', { sysfsRoot: fixture('pi') });
  assert.is(fellBack, false);
  assert.is(sensor.kind, 'ds18b20');
  assert.is(sensor.id, 'ds18b20:28-0316a2795aff');
  assert.is(sensor.path, path.join(fixture('pi'), 'bus/w1/devices/28-0316a2795aff/w1_slave'));
  const reading = await sensor.read();
  assert.is(reading.temperature, 23.125);
  assert.is(reading.sensor, 'ds18b20:28-0316a2795aff');
});

test('reads w1_slave even when the newer temperature file is present', async () => {
  const reader = countingReader('temperature');
  const { sensor } = await openSensor('ds18b20', { sysfsRoot: fixture('pi'), readFile: reader.read });
  await sensor.read();
  assert.is(reader.count, 0);
});

test('reads a DS18B20 below zero', async () => {
  const { sensor } = await openSensor('ds18b20', { sysfsRoot: fixture('ds18b20-negative') });
  assert.is((await sensor.read()).temperature, -10.125);
});

test('re-reads a DS18B20 after a failed CRC check and returns the next good value', async () => {
  const root = await tempCopy('ds18b20-crc-no');
  try {
    // The first read sees "crc=c9 NO"; the sensor then answers properly.
    const reader = countingReader('w1_slave', async (file, count) => {
      if (count === 1) await writeFile(file, W1_YES);
    });
    const { sensor } = await openSensor('ds18b20', { ...fast, sysfsRoot: root, readFile: reader.read });
    const reading = await sensor.read();
    assert.is(reading.temperature, 23.125);
    assert.is(reader.count, 2);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('fails with SKETCH_ERR_SENSOR_READ when the CRC check keeps failing, after 1 + retries reads', async () => {
  const reader = countingReader('w1_slave');
  const { sensor } = await openSensor('ds18b20', {
    ...fast,
    retries: 2,
    sysfsRoot: fixture('ds18b20-crc-no'),
    readFile: reader.read,
  });
  const err = await thrown(() => sensor.read());
  assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
  assert.match(err.message, 'ds18b20:28-000004c0002b');
  assert.match(err.message, 'CRC');
  assert.match(err.message, '3 reads');
  assert.not.match(err.message, '\n');
  assert.is(reader.count, 3);
});

test('rejects the 85000 power-on value of a DS18B20', async () => {
  const reader = countingReader('w1_slave');
  const { sensor } = await openSensor('ds18b20', { ...fast, sysfsRoot: fixture('ds18b20-85000'), readFile: reader.read });
  const err = await thrown(() => sensor.read());
  assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
  assert.match(err.message, '85 °C power-on value');
  assert.is(reader.count, 4, 'default: 3 re-reads');
});

test('re-reads a DS18B20 that first answers with the 85000 power-on value', async () => {
  const root = await tempCopy('ds18b20-85000');
  try {
    const reader = countingReader('w1_slave', async (file, count) => {
      if (count === 1) await writeFile(file, W1_YES);
    });
    const { sensor } = await openSensor('ds18b20', { ...fast, sysfsRoot: root, readFile: reader.read });
    assert.is((await sensor.read()).temperature, 23.125);
    assert.is(reader.count, 2);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('rejects an all-zero DS18B20 scratchpad even though its CRC matches', async () => {
  const { sensor } = await openSensor('ds18b20', { ...fast, retries: 0, sysfsRoot: fixture('ds18b20-zeros') });
  const err = await thrown(() => sensor.read());
  assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
  assert.match(err.message, 'all-zero');
  assert.match(err.message, '(1 read)');
});

test('rejects an empty w1_slave read (newer kernels after a failed CRC check)', async () => {
  const { sensor } = await openSensor('ds18b20', { ...fast, sysfsRoot: fixture('ds18b20-empty') });
  const err = await thrown(() => sensor.read());
  assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
  assert.match(err.message, 'empty read');
});

test('waits retryDelay ms between DS18B20 re-reads', async () => {
  const { sensor } = await openSensor('ds18b20', { retries: 2, retryDelay: 40, sysfsRoot: fixture('ds18b20-85000') });
  const started = Date.now();
  await thrown(() => sensor.read());
  assert.ok(Date.now() - started >= 75, `took ${Date.now() - started} ms`);
});

test('fails with SKETCH_ERR_SENSOR_READ at once when the DS18B20 disappears from the bus', async () => {
  const root = await tempCopy('pi');
  try {
    const reader = countingReader('w1_slave');
    const { sensor } = await openSensor('ds18b20', { ...fast, sysfsRoot: root, readFile: reader.read });
    await rm(path.join(root, 'bus/w1/devices/28-0316a2795aff'), { recursive: true });
    const err = await thrown(() => sensor.read());
    assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
    assert.match(err.message, 'gone');
    assert.is(reader.count, 0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// --- thermal and hwmon ---------------------------------------------------------------

test('reads the first thermal zone, named by zone and type', async () => {
  const { sensor } = await openSensor('thermal', { sysfsRoot: fixture('x86') });
  assert.is(sensor.kind, 'thermal');
  assert.is(sensor.id, 'thermal:thermal_zone0:acpitz');
  assert.is((await sensor.read()).temperature, 27.8);
});

test('reads a hwmon channel, named by chip, driver name and label', async () => {
  const { sensor } = await openSensor('hwmon', { sysfsRoot: fixture('hwmon') });
  assert.is(sensor.kind, 'hwmon');
  assert.is(sensor.id, 'hwmon:hwmon2:coretemp:Package id 0');
  const reading = await sensor.read();
  assert.is(reading.temperature, 41);
  assert.is(reading.sensor, 'hwmon:hwmon2:coretemp:Package id 0');
});

test('skips a thermal zone whose temp cannot be read and opens the next one', async () => {
  const readFile = async (file: string) => {
    if (file.endsWith(path.join('thermal_zone0', 'temp'))) {
      throw Object.assign(new Error('ENODATA: no data available, read'), { code: 'ENODATA' });
    }
    return (await import('node:fs/promises')).readFile(file, 'utf8');
  };
  const { sensor } = await openSensor('thermal', { sysfsRoot: fixture('x86'), readFile });
  assert.is(sensor.id, 'thermal:thermal_zone1:x86_pkg_temp');
  assert.is((await sensor.read()).temperature, 45);
});

test('fails with SKETCH_ERR_SENSOR_READ when no thermal zone of the tree can be read', async () => {
  const readFile = async (file: string) => {
    if (path.basename(file) === 'temp') throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    return (await import('node:fs/promises')).readFile(file, 'utf8');
  };
  const err = await thrown(() => openSensor('thermal', { sysfsRoot: fixture('x86'), readFile }));
  assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
  assert.match(err.message, 'thermal:thermal_zone0:acpitz');
  assert.match(err.message, 'EIO');
});

test('fails with SKETCH_ERR_SENSOR_READ when a thermal zone holds no integer', async () => {
  const root = await tempCopy('pi');
  try {
    const { sensor } = await openSensor('thermal', { sysfsRoot: root });
    await writeFile(path.join(root, 'class/thermal/thermal_zone0/temp'), 'garbage\n');
    const err = await thrown(() => sensor.read());
    assert.is(err.code, 'SKETCH_ERR_SENSOR_READ');
    assert.match(err.message, 'expected an integer in m°C, got "garbage"');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// --- auto and explicit kinds ---------------------------------------------------------

test('auto prefers a DS18B20, then a thermal zone, then hwmon', async () => {
  assert.is((await openSensor('auto', { sysfsRoot: fixture('pi') })).sensor.kind, 'ds18b20');
  assert.is((await openSensor('auto', { sysfsRoot: fixture('x86') })).sensor.kind, 'thermal');
  assert.is((await openSensor(undefined, { sysfsRoot: fixture('hwmon') })).sensor.kind, 'hwmon');
});

test('auto falls back to simulated readings on an empty tree and says so in one line', async () => {
  const empty = await mkdtemp(path.join(tmpdir(), 'sketchnet-sensors-'));
  try {
    const { sensor, fellBack, notice } = await openSensor('auto', { sysfsRoot: empty });
    assert.is(fellBack, true);
    assert.is(sensor.kind, 'simulated');
    assert.is(sensor.id, 'simulated');
    assert.match(sensor.description, 'simulated');
    assert.type(notice, 'string');
    assert.match(notice!, empty);
    assert.match(notice!, 'simulated');
    assert.not.match(notice!, '\n');
    assert.is((await sensor.read()).sensor, 'simulated');
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test('auto falls back to simulated when the only sensors found cannot be read, naming them', async () => {
  const readFile = async (file: string) => {
    if (path.basename(file) === 'temp1_input') throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    return (await import('node:fs/promises')).readFile(file, 'utf8');
  };
  const { sensor, fellBack, notice } = await openSensor('auto', { sysfsRoot: fixture('hwmon'), readFile });
  assert.is(fellBack, true);
  assert.is(sensor.kind, 'simulated');
  assert.match(notice!, 'hwmon:hwmon2:coretemp:Package id 0');
});

test('a real sensor found by auto does not report a fallback', async () => {
  const opened = await openSensor('auto', { sysfsRoot: fixture('pi') });
  assert.is(opened.fellBack, false);
  assert.is(opened.notice, undefined);
});

test('asking for a DS18B20 that is not there throws SKETCH_ERR_SENSOR_NOT_FOUND saying where and what to do', async () => {
  const err = await thrown(() => openSensor('ds18b20', { sysfsRoot: fixture('x86') }));
  assert.is(err.code, 'SKETCH_ERR_SENSOR_NOT_FOUND');
  assert.is(err.exitCode, 1);
  assert.match(err.message, `no DS18B20 under ${path.join(fixture('x86'), 'bus/w1/devices')} (28-*)`);
  assert.match(err.message, 'dtoverlay=w1-gpio');
  assert.match(err.message, '--sensor auto');
  assert.not.match(err.message, '\n');
});

test('asking for a thermal zone or hwmon channel that is not there throws SKETCH_ERR_SENSOR_NOT_FOUND', async () => {
  const thermal = await thrown(() => openSensor('thermal', { sysfsRoot: fixture('hwmon') }));
  assert.is(thermal.code, 'SKETCH_ERR_SENSOR_NOT_FOUND');
  assert.match(thermal.message, path.join(fixture('hwmon'), 'class/thermal'));
  const hwmon = await thrown(() => openSensor('hwmon', { sysfsRoot: fixture('ds18b20-85000') }));
  assert.is(hwmon.code, 'SKETCH_ERR_SENSOR_NOT_FOUND');
  assert.match(hwmon.message, path.join(fixture('ds18b20-85000'), 'class/hwmon'));
});

test('rejects an unknown sensor kind and bad options with SKETCH_ERR_INVALID_OPTION', async () => {
  const kind = await thrown(() => openSensor('lm35' as never));
  assert.is(kind.code, 'SKETCH_ERR_INVALID_OPTION');
  assert.match(kind.message, 'auto, ds18b20, thermal, hwmon, simulated');
  assert.is((await thrown(() => openSensor('simulated', { retries: -1 }))).code, 'SKETCH_ERR_INVALID_OPTION');
  assert.is((await thrown(() => openSensor('simulated', { retryDelay: NaN }))).code, 'SKETCH_ERR_INVALID_OPTION');
  const start = await thrown(() => openSensor('simulated', { simulated: { start: 40 } }));
  assert.is(start.code, 'SKETCH_ERR_INVALID_OPTION');
});

// --- simulated -----------------------------------------------------------------------

test('simulated readings start at 21 °C and walk by at most 0.1 °C per reading', async () => {
  const { sensor, fellBack } = await openSensor('simulated', { sysfsRoot: '/nonexistent' });
  assert.is(fellBack, false);
  assert.match(sensor.description, 'simulated');
  let previous = (await sensor.read()).temperature;
  assert.is(previous, 21);
  for (let i = 0; i < 200; i++) {
    const { temperature } = await sensor.read();
    assert.ok(Math.abs(temperature - previous) <= 0.1 + 1e-9, `${previous} → ${temperature}`);
    assert.ok(temperature >= 15 && temperature <= 30);
    previous = temperature;
  }
});

test('simulated readings follow the injected random source and stay within min and max', async () => {
  const up = await openSensor('simulated', { random: () => 0.999999, simulated: { start: 21, step: 0.5, max: 22 } });
  const ups = [];
  for (let i = 0; i < 4; i++) ups.push((await up.sensor.read()).temperature);
  assert.equal(ups, [21, 21.5, 22, 22]);
  const down = await openSensor('simulated', { random: () => 0, simulated: { start: 15.1, step: 0.1 } });
  const downs = [];
  for (let i = 0; i < 3; i++) downs.push((await down.sensor.read()).temperature);
  assert.equal(downs, [15.1, 15, 15]);
});

// --- reading shape and time ----------------------------------------------------------

test('a reading is { time, temperature, unit: "°C", sensor } and nothing else', async () => {
  for (const kind of ['ds18b20', 'thermal', 'hwmon', 'simulated'] as const) {
    const { sensor } = await openSensor(kind, { sysfsRoot: fixture('pi') });
    const reading = await sensor.read();
    assert.equal(Object.keys(reading).sort(), ['sensor', 'temperature', 'time', 'unit'], kind);
    assert.is(reading.unit, '°C');
    assert.type(reading.temperature, 'number');
    assert.type(reading.time, 'number');
    assert.is(reading.sensor, sensor.id);
  }
});

test('time is when the sample was taken (midpoint of the file read), in seconds with ms precision', async () => {
  const clock = [1718000000100, 1718000000346];
  let calls = 0;
  const now = () => clock[Math.min(calls++, clock.length - 1)]!;
  const { sensor } = await openSensor('ds18b20', { sysfsRoot: fixture('pi'), now });
  calls = 0;
  const reading = await sensor.read();
  assert.is(reading.time, 1718000000.223);
  assert.is(calls, 2, 'one clock read before and one after the file read');
});

test('time is taken at the read, not when the reading is used later', async () => {
  const { sensor } = await openSensor('thermal', { sysfsRoot: fixture('pi') });
  const before = Date.now() / 1000;
  const reading = await sensor.read();
  const after = Date.now() / 1000;
  await new Promise((resolve) => setTimeout(resolve, 30));
  // The process's wall clock (runtime/streams/wall-clock.ts) follows Date.now() within 1 ms: it runs on the monotonic clock between readings.
  assert.ok(reading.time >= before - 0.0015 && reading.time <= after + 0.0015, `${before} ≤ ${reading.time} ≤ ${after} (±1.5 ms)`);
  assert.ok(Date.now() / 1000 - reading.time >= 0.025);
  assert.is(Math.round(reading.time * 1000) / 1000, reading.time, 'ms precision');
});

test('simulated readings carry the time of the reading in seconds', async () => {
  const { sensor } = await openSensor('simulated', { now: () => 1718000000123 });
  assert.is((await sensor.read()).time, 1718000000.123);
});

test('a hand-built tree with a thermal zone lacking a type file still gets a stable id', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'sketchnet-sensors-'));
  try {
    await mkdir(path.join(root, 'class/thermal/thermal_zone3'), { recursive: true });
    await writeFile(path.join(root, 'class/thermal/thermal_zone3/temp'), '-5500\n');
    const { sensor } = await openSensor('thermal', { sysfsRoot: root });
    assert.is(sensor.id, 'thermal:thermal_zone3');
    assert.is((await sensor.read()).temperature, -5.5);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
