/**
 * Temperature sensors for the thermometer sketch: a DS18B20 on the 1-Wire bus, a kernel
 * thermal zone, a hwmon temperature channel, or a simulated random walk. Every real source
 * is read from sysfs, under a root that tests can point at a fixture tree. See docs/API.md (Temperature sensors).
 *
 * ```ts
 * const { sensor, notice } = await openSensor('auto');
 * if (notice) console.log(notice); // fell back to simulated readings
 * const reading = await sensor.read(); // { time: 1718000000.123, temperature: 23.125, unit: '°C', sensor: 'ds18b20:28-0316a2795aff' }
 * ```
 */
import { wallClock } from '../streams/wall-clock.js';
import { readdir, readFile as fsReadFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errors, oneLine } from '../errors.js';
import { dropUndefined } from '../options.js';

/** Every sensor kind, in the order `auto` tries the real ones; usable as option `choices`. */
export const SENSOR_KINDS = ['auto', 'ds18b20', 'thermal', 'hwmon', 'simulated'] as const;

/**
 * Which sensor to open. `auto` = the first real source found (ds18b20, then thermal, then
 * hwmon), else `simulated`.
 */
export type SensorKind = (typeof SENSOR_KINDS)[number];

/** The kind of an opened sensor: every {@link SensorKind} but `auto`. */
export type SensorSource = Exclude<SensorKind, 'auto'>;

/** The kinds backed by real sysfs files. */
export type RealSensorSource = Exclude<SensorSource, 'simulated'>;

/** One temperature sample. */
export interface Reading {
  /**
   * When the sample was taken, in seconds since the Unix epoch, with millisecond precision
   * (e.g. `1718000000.123`): the midpoint of the file read that produced it, not the time
   * it is sent.
   */
  time: number;
  /** The temperature in degrees Celsius (sysfs gives m°C; this is that value / 1000). */
  temperature: number;
  /** Always `'°C'`. */
  unit: '°C';
  /** The {@link TemperatureSensor.id} of the sensor that took it, e.g. `ds18b20:28-0316a2795aff`. */
  sensor: string;
}

/** A sensor opened by {@link openSensor}. */
export interface TemperatureSensor {
  /**
   * Stable, descriptive id, also put in every reading's `sensor` field:
   * `ds18b20:28-0316a2795aff`, `thermal:thermal_zone0:cpu-thermal`,
   * `hwmon:hwmon2:coretemp:Package id 0`, or `simulated`.
   */
  readonly id: string;
  /** Which source it reads. */
  readonly kind: SensorSource;
  /** One line for logs, naming the source and the file read (or saying it is simulated). */
  readonly description: string;
  /** The sysfs file read for each sample; undefined for `simulated`. */
  readonly path?: string;
  /**
   * Takes one sample. A DS18B20 read lasts one conversion (750 ms at the default 12-bit
   * resolution), more when it has to re-read.
   * @throws SketchError `SKETCH_ERR_SENSOR_READ` when the file cannot be read or holds no
   *   valid value (for a DS18B20: after `1 + retries` reads).
   */
  read(): Promise<Reading>;
}

/** A real sensor found by {@link findSensors}. */
export interface SensorInfo {
  kind: RealSensorSource;
  /** Same id as the opened sensor's {@link TemperatureSensor.id}. */
  id: string;
  /** The file holding the value: `w1_slave`, `temp` or `temp<N>_input`. */
  path: string;
  /** One line naming the source and the file. */
  description: string;
}

/** Settings of the simulated sensor, all in °C. */
export interface SimulatedOptions {
  /** First reading. Default 21. */
  start?: number;
  /** Largest change between two readings (uniform in [−step, +step]). Default 0.1. */
  step?: number;
  /** Lowest value the walk may reach. Default 15. */
  min?: number;
  /** Highest value the walk may reach. Default 30. */
  max?: number;
}

/** Options for {@link openSensor}; every field is optional. */
export interface SensorOptions {
  /**
   * Where sysfs is mounted. Default: the `SKETCH_SYSFS_ROOT` environment variable when set
   * and non-empty, else `/sys`. Tests point it at a fixture tree.
   */
  sysfsRoot?: string;
  /**
   * DS18B20 only: how many times to re-read after a bad read (CRC `NO`, empty file,
   * the 85000 m°C power-on value, an all-zero scratchpad, an I/O error). Integer ≥ 0. Default 3.
   */
  retries?: number;
  /** DS18B20 only: pause before each re-read, in ms. ≥ 0. Default 100. */
  retryDelay?: number;
  /** Settings of the simulated random walk (°C). */
  simulated?: SimulatedOptions;
  /** Clock, in ms since the Unix epoch. Default: the process's wall clock (µs resolution, steps noticed: runtime/streams/wall-clock.ts). Injected by tests. */
  now?: () => number;
  /** Random numbers in [0, 1) for the simulated walk. Default `Math.random`. Injected by tests. */
  random?: () => number;
  /** Reads a sysfs file as UTF-8 text. Default `fs.promises.readFile(path, 'utf8')`. Injected by tests. */
  readFile?: (file: string) => Promise<string>;
}

/** What {@link openSensor} returns. */
export interface OpenedSensor {
  sensor: TemperatureSensor;
  /** True when `auto` found no usable real sensor and opened the simulated one. */
  fellBack: boolean;
  /**
   * When `fellBack`: one line for the caller to log, saying where it looked and that the
   * readings are simulated. Undefined otherwise.
   */
  notice?: string;
}

/** The parsed content of a DS18B20 `w1_slave` file, see {@link parseW1Slave}. */
export interface W1SlaveData {
  /** True when the first line ends in `crc=xx YES`. */
  crcOk: boolean;
  /** The `t=` value of the second line, in m°C; null when absent or not an integer. */
  milliCelsius: number | null;
  /** The 9 scratchpad bytes of the first line (empty when the line is malformed). */
  scratchpad: number[];
}

/** The DS18B20 power-on reset value of the temperature register: 85 °C, in m°C. */
export const DS18B20_POWER_ON_VALUE = 85000;

const DEFAULTS = { retries: 3, retryDelay: 100 } as const;
const SIMULATED_DEFAULTS: Required<SimulatedOptions> = { start: 21, step: 0.1, min: 15, max: 30 };

/**
 * The sysfs root to use: `explicit` when given, else `SKETCH_SYSFS_ROOT` when set and
 * non-empty, else `/sys`.
 */
export function resolveSysfsRoot(explicit?: string): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const env = process.env['SKETCH_SYSFS_ROOT'];
  return env !== undefined && env !== '' ? env : '/sys';
}

/**
 * Parses the content of a DS18B20 `w1_slave` file (Documentation/w1/slaves/w1_therm.rst):
 * two lines of nine hex scratchpad bytes, the first ending in `: crc=xx YES` (or `NO` when
 * the CRC check failed), the second in `t=<m°C>`:
 * ```
 * 72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 * 72 01 4b 46 7f ff 0e 10 57 t=23125
 * ```
 * Pure; never throws. Empty or malformed text gives `crcOk: false` and/or `milliCelsius: null`.
 */
export function parseW1Slave(text: string): W1SlaveData {
  const [first = '', second = ''] = text.split('\n');
  const crc = /^((?:[0-9a-f]{2} ){9}): crc=[0-9a-f]{2} (YES|NO)\s*$/i.exec(first);
  const t = /\bt=(-?\d+)\s*$/.exec(second);
  return {
    crcOk: crc?.[2] === 'YES',
    milliCelsius: t ? Number(t[1]) : null,
    scratchpad: crc?.[1] ? crc[1].trim().split(' ').map((byte) => parseInt(byte, 16)) : [],
  };
}

/**
 * Lists every real temperature source under the sysfs root, in the order `auto` tries them:
 * - DS18B20: `<root>/bus/w1/devices/28-<serial>/w1_slave`, by serial. Format: see
 *   {@link parseW1Slave} (Documentation/w1/slaves/w1_therm.rst). The newer `temperature`
 *   file beside it (plain m°C, Documentation/ABI/testing/sysfs-driver-w1_therm) is not used:
 *   it costs the same conversion, but an empty read is all it says on failure, while
 *   `w1_slave` exists on every kernel and shows the CRC verdict and the raw scratchpad.
 * - thermal zones: `<root>/class/thermal/thermal_zone<N>/temp`, an integer in m°C, named by
 *   its `type` (e.g. `cpu-thermal`, `x86_pkg_temp`, `acpitz`), by N
 *   (Documentation/ABI/testing/sysfs-class-thermal).
 * - hwmon: `<root>/class/hwmon/hwmon<N>/temp<M>_input`, an integer in m°C, named by the chip's
 *   `name` and the optional `temp<M>_label`, by N then M (Documentation/hwmon/sysfs-interface.rst).
 *
 * Only checks that the files exist (and reads the small `type`/`name`/`label` files); does
 * not read temperatures. A missing or unreadable directory counts as no sensor.
 * @param sysfsRoot default: {@link resolveSysfsRoot}`()`.
 * @param readFile text reader for the `type`/`name`/`label` files; default `fs.promises.readFile`.
 */
export async function findSensors(
  sysfsRoot?: string,
  readFile: (file: string) => Promise<string> = readText,
): Promise<SensorInfo[]> {
  const root = resolveSysfsRoot(sysfsRoot);
  return [
    ...(await findDs18b20(root)),
    ...(await findThermal(root, readFile)),
    ...(await findHwmon(root, readFile)),
  ];
}

/**
 * Opens a temperature sensor.
 *
 * - `ds18b20`, `thermal`, `hwmon`: the first one {@link findSensors} lists of that kind. For
 *   thermal zones and hwmon channels, the first whose value reads as an integer (one probe
 *   read each; a DS18B20 is not probed, as a read takes a 750 ms conversion).
 * - `simulated`: a random walk, see {@link SimulatedOptions}; always available.
 * - `auto` (default): tries ds18b20, thermal, hwmon in that order; when none is usable it
 *   opens `simulated` and returns `fellBack: true` with a `notice` line to log.
 *
 * @throws SketchError `SKETCH_ERR_SENSOR_NOT_FOUND` when a real kind was asked for and none is
 *   present under the sysfs root; the message says where it looked and what to do.
 * @throws SketchError `SKETCH_ERR_SENSOR_READ` when thermal zones or hwmon channels of the
 *   asked kind exist but none could be read (the error of the first one).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for an unknown kind or a bad option value.
 */
export async function openSensor(kind: SensorKind = 'auto', options: SensorOptions = {}): Promise<OpenedSensor> {
  if (!(SENSOR_KINDS as readonly string[]).includes(kind)) {
    throw errors.INVALID_OPTION(`sensor kind must be one of ${SENSOR_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  const ctx = context(options);
  if (kind === 'simulated') return { sensor: simulatedSensor(ctx), fellBack: false };

  const found = await findSensors(ctx.root, ctx.readFile);
  const unreadable: string[] = [];
  for (const source of kind === 'auto' ? REAL_KINDS : [kind]) {
    const candidates = found.filter((info) => info.kind === source);
    if (candidates.length === 0) {
      if (kind === 'auto') continue;
      throw notFound(source, ctx.root);
    }
    const usable = await firstUsable(candidates, ctx);
    if ('sensor' in usable) return { sensor: usable.sensor, fellBack: false };
    if (kind !== 'auto') throw usable.failures[0]!;
    unreadable.push(...candidates.map((info) => info.id));
  }
  const because = unreadable.length > 0 ? ` (found but unreadable: ${unreadable.join(', ')})` : '';
  return {
    sensor: simulatedSensor(ctx),
    fellBack: true,
    notice:
      `no readable temperature sensor under ${ctx.root} (looked for bus/w1/devices/28-*/w1_slave, ` +
      `class/thermal/thermal_zone*/temp, class/hwmon/hwmon*/temp*_input)${because}: using simulated readings`,
  };
}

// ---------------------------------------------------------------------------------------

const REAL_KINDS: readonly RealSensorSource[] = ['ds18b20', 'thermal', 'hwmon'];

interface Context {
  root: string;
  retries: number;
  retryDelay: number;
  simulated: Required<SimulatedOptions>;
  now: () => number;
  random: () => number;
  readFile: (file: string) => Promise<string>;
}

function context(options: SensorOptions): Context {
  const retries = options.retries ?? DEFAULTS.retries;
  if (!Number.isInteger(retries) || retries < 0) {
    throw errors.INVALID_OPTION(`sensor retries must be an integer ≥ 0, got ${String(retries)}`);
  }
  const retryDelay = options.retryDelay ?? DEFAULTS.retryDelay;
  if (!Number.isFinite(retryDelay) || retryDelay < 0) {
    throw errors.INVALID_OPTION(`sensor retryDelay must be a number of ms ≥ 0, got ${String(retryDelay)}`);
  }
  const simulated = { ...SIMULATED_DEFAULTS, ...dropUndefined(options.simulated ?? {}) };
  for (const [key, value] of Object.entries(simulated)) {
    if (!Number.isFinite(value)) throw errors.INVALID_OPTION(`simulated ${key} must be a number (°C), got ${String(value)}`);
  }
  if (simulated.step < 0) throw errors.INVALID_OPTION(`simulated step must be ≥ 0 °C, got ${simulated.step}`);
  if (!(simulated.min <= simulated.start && simulated.start <= simulated.max)) {
    throw errors.INVALID_OPTION(
      `simulated start must lie from min to max (${simulated.min} to ${simulated.max} °C), got ${simulated.start}`,
    );
  }
  return {
    root: resolveSysfsRoot(options.sysfsRoot),
    retries,
    retryDelay,
    simulated,
    now: options.now ?? (() => wallClock.nowMs()),
    random: options.random ?? Math.random,
    readFile: options.readFile ?? readText,
  };
}

function notFound(source: RealSensorSource, root: string) {
  switch (source) {
    case 'ds18b20':
      return errors.SENSOR_NOT_FOUND(
        'DS18B20',
        `${path.join(root, 'bus/w1/devices')} (28-*)`,
        'enable 1-Wire (dtoverlay=w1-gpio in config.txt, or modprobe w1-gpio w1-therm), check the wiring, or use --sensor auto',
      );
    case 'thermal':
      return errors.SENSOR_NOT_FOUND(
        'thermal zone',
        `${path.join(root, 'class/thermal')} (thermal_zone*/temp)`,
        'this kernel exposes none; use --sensor auto or --sensor simulated',
      );
    case 'hwmon':
      return errors.SENSOR_NOT_FOUND(
        'hwmon temperature',
        `${path.join(root, 'class/hwmon')} (hwmon*/temp*_input)`,
        'load the driver of the sensor chip (lm-sensors\' sensors-detect suggests one) or use --sensor auto',
      );
  }
}

function sensorReadError(info: Pick<SensorInfo, 'id' | 'path'>, detail: string, cause?: unknown) {
  return errors.SENSOR_READ(info.id, info.path, detail, cause);
}

/**
 * The first candidate that gives a valid reading (a DS18B20 is taken as is), or every
 * candidate's read error.
 */
async function firstUsable(
  candidates: SensorInfo[],
  ctx: Context,
): Promise<{ sensor: TemperatureSensor } | { failures: unknown[] }> {
  const failures: unknown[] = [];
  for (const info of candidates) {
    if (info.kind === 'ds18b20') return { sensor: ds18b20Sensor(info, ctx) };
    const sensor = plainSensor(info, ctx);
    try {
      await sensor.read();
      return { sensor };
    } catch (err) {
      failures.push(err);
    }
  }
  return { failures };
}

/** A thermal zone or hwmon channel: one file holding an integer in m°C. */
function plainSensor(info: SensorInfo, ctx: Context): TemperatureSensor {
  return {
    id: info.id,
    kind: info.kind,
    description: info.description,
    path: info.path,
    async read() {
      const { text, time } = await timedRead(info, ctx);
      const milli = parseMilli(text);
      if (milli === null) throw sensorReadError(info, `expected an integer in m°C, got ${JSON.stringify(text.trim())}`);
      return reading(info.id, milli / 1000, time);
    },
  };
}

function ds18b20Sensor(info: SensorInfo, ctx: Context): TemperatureSensor {
  const attempts = ctx.retries + 1;
  return {
    id: info.id,
    kind: 'ds18b20',
    description: info.description,
    path: info.path,
    async read() {
      let problem = '';
      let cause: unknown;
      for (let attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0 && ctx.retryDelay > 0) await sleep(ctx.retryDelay);
        let sample: { text: string; time: number };
        try {
          sample = await timedRead(info, ctx);
        } catch (err) {
          // The device directory disappears when the bus master no longer finds the chip.
          if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') throw err;
          problem = oneLine(err);
          cause = err;
          continue;
        }
        const data = parseW1Slave(sample.text);
        if (sample.text.trim() === '') {
          problem = 'empty read (the kernel\'s CRC check or bus reset failed)';
        } else if (data.scratchpad.length === 0 || data.milliCelsius === null) {
          problem = `unexpected content ${JSON.stringify(sample.text.trim())}`;
        } else if (!data.crcOk) {
          problem = 'CRC check failed (crc=… NO): check the wiring and the 4.7 kΩ pull-up';
        } else if (data.scratchpad.every((byte) => byte === 0)) {
          problem = 'all-zero scratchpad: the data line reads low, check the wiring';
        } else if (data.milliCelsius === DS18B20_POWER_ON_VALUE) {
          problem = 'got the 85 °C power-on value (no conversion took place): check the sensor\'s power (VDD) wiring';
        } else {
          return reading(info.id, data.milliCelsius / 1000, sample.time);
        }
        cause = undefined;
      }
      const tries = attempts === 1 ? '1 read' : `${attempts} reads`;
      throw sensorReadError(info, `${problem} (${tries})`, cause);
    },
  };
}

function simulatedSensor(ctx: Context): TemperatureSensor {
  const { start, step, min, max } = ctx.simulated;
  let current: number | undefined;
  return {
    id: 'simulated',
    kind: 'simulated',
    description: `simulated temperature (no sensor read): random walk from ${start} °C, ±${step} °C per reading, within ${min}–${max} °C`,
    async read() {
      const time = ctx.now();
      current =
        current === undefined ? start : Math.min(max, Math.max(min, current + (ctx.random() * 2 - 1) * step));
      current = Math.round(current * 1000) / 1000;
      return reading('simulated', current, time);
    },
  };
}

/** Reads the sensor's file; `time` is the midpoint of the read, in ms since the epoch. */
async function timedRead(info: Pick<SensorInfo, 'id' | 'path'>, ctx: Context): Promise<{ text: string; time: number }> {
  const before = ctx.now();
  let text: string;
  try {
    text = await ctx.readFile(info.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? 'the file is gone (sensor removed?)' : oneLine(err);
    throw sensorReadError(info, detail, err);
  }
  return { text, time: (before + ctx.now()) / 2 };
}

function reading(sensor: string, temperature: number, timeMs: number): Reading {
  return { time: Math.round(timeMs) / 1000, temperature, unit: '°C', sensor };
}

function parseMilli(text: string): number | null {
  const match = /^\s*(-?\d+)\s*$/.exec(text);
  return match ? Number(match[1]) : null;
}

async function findDs18b20(root: string): Promise<SensorInfo[]> {
  const dir = path.join(root, 'bus/w1/devices');
  const out: SensorInfo[] = [];
  for (const name of (await list(dir)).filter((n) => /^28-[0-9a-f]+$/i.test(n)).sort()) {
    const file = path.join(dir, name, 'w1_slave');
    if (await isFile(file)) {
      out.push({ kind: 'ds18b20', id: `ds18b20:${name}`, path: file, description: `DS18B20 ${name} (${file})` });
    }
  }
  return out;
}

async function findThermal(root: string, readFile: (file: string) => Promise<string>): Promise<SensorInfo[]> {
  const dir = path.join(root, 'class/thermal');
  const out: SensorInfo[] = [];
  for (const zone of byNumber(await list(dir), /^thermal_zone(\d+)$/)) {
    const file = path.join(dir, zone, 'temp');
    if (!(await isFile(file))) continue;
    const type = await optionalText(path.join(dir, zone, 'type'), readFile);
    const id = ['thermal', zone, type].filter(Boolean).join(':');
    out.push({ kind: 'thermal', id, path: file, description: `thermal zone ${zone}${type ? ` (${type})` : ''} (${file})` });
  }
  return out;
}

async function findHwmon(root: string, readFile: (file: string) => Promise<string>): Promise<SensorInfo[]> {
  const dir = path.join(root, 'class/hwmon');
  const out: SensorInfo[] = [];
  for (const chip of byNumber(await list(dir), /^hwmon(\d+)$/)) {
    const chipDir = path.join(dir, chip);
    const inputs = byNumber(await list(chipDir), /^temp(\d+)_input$/);
    if (inputs.length === 0) continue;
    const name = await optionalText(path.join(chipDir, 'name'), readFile);
    for (const input of inputs) {
      const channel = input.slice(0, -'_input'.length);
      const file = path.join(chipDir, input);
      if (!(await isFile(file))) continue;
      const label = await optionalText(path.join(chipDir, `${channel}_label`), readFile);
      const id = ['hwmon', chip, name, label ?? channel].filter(Boolean).join(':');
      const what = [name, label ?? channel].filter(Boolean).join(' ');
      out.push({ kind: 'hwmon', id, path: file, description: `hwmon ${chip} ${what} (${file})` });
    }
  }
  return out;
}

/** Names matching `pattern` (whose group 1 is a number), sorted by that number. */
function byNumber(names: string[], pattern: RegExp): string[] {
  return names
    .map((name) => ({ name, n: pattern.exec(name)?.[1] }))
    .filter((entry): entry is { name: string; n: string } => entry.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((entry) => entry.name);
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** The trimmed content of a small attribute file, or undefined when missing/unreadable/empty. */
async function optionalText(file: string, readFile: (file: string) => Promise<string>): Promise<string | undefined> {
  try {
    const text = (await readFile(file)).trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

function readText(file: string): Promise<string> {
  return fsReadFile(file, 'utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

