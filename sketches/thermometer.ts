import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  openSensor,
  reactive,
  SENSOR_KINDS,
  Sketch,
  SketchError,
  type OptionValues,
  type Outbox,
  type RateLimit,
  type Reading,
  type SensorKind,
  type SensorOptions,
  type SketchConfig,
  type SketchStatus,
  type TemperatureSensor,
  type HaEntity,
} from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import { DEFAULT_OUTBOX, MAX_OUTBOX_BATCH, MAX_OUTBOX_ITEMS, parseRate } from '../runtime/streams/outbox.js';

const options = {
  sensor: { type: 'string', choices: SENSOR_KINDS, default: 'auto', describe: 'temperature source (auto = first real one, else simulated)' },
  interval: { type: 'number', min: 0.001, default: 1, describe: 'seconds between readings' },
  queue: {
    type: 'number',
    integer: true,
    min: 1,
    max: MAX_OUTBOX_ITEMS,
    default: DEFAULT_OUTBOX.maxItems,
    describe: 'readings held for the --to peer while it is away or behind (items); when full, the oldest unsent go first',
  },
  batch: {
    type: 'number',
    integer: true,
    min: 1,
    max: MAX_OUTBOX_BATCH,
    default: DEFAULT_OUTBOX.batch,
    describe: 'most readings per message to the --to peer (a JSON array, only when it is behind)',
  },
  rate: {
    type: 'string',
    describe: 'most messages to the --to peer, e.g. 30/10s (30 per 10 s), 2/1m or 5 (per second); default: no limit',
  },
} as const;

/** Where subscribers connect to receive every reading. */
export const READINGS_CHANNEL = '/readings';

/** How a {@link Thermometer} is built: a sketch's config plus, for tests and odd hardware, the sensor's. */
export interface ThermometerConfig extends SketchConfig {
  /**
   * Passed to `openSensor()`: sysfs root, DS18B20 re-reads and their delay, an injected
   * `readFile`. Default: none (sysfs from `SKETCH_SYSFS_ROOT`, else `/sys`).
   */
  sensorOptions?: SensorOptions;
}

/** The sensor's health, as {@link Thermometer.sensorStatus} reports it. */
export interface SensorStatus {
  /** Samples that failed since the thermometer started (a DS18B20's own re-reads within one sample count once). */
  errors: number;
  /** True while the latest sample failed (no reading since). */
  failing: boolean;
  /** One line: why the latest failed sample failed (kept after readings resumed). */
  lastError?: string;
}

/**
 * The thermometer: samples a temperature sensor every `interval` seconds (each reading logged
 * at level debug: printed with `--verbose` only). Each reading
 * (`{ time, temperature, unit: '°C', sensor }`, time in seconds since the epoch when sampled)
 * is published on `/readings` and, with `--to PEER`, pushed to the peer's outbox: buffered
 * (`--queue`), batched when the peer is behind (`--batch`), paced (`--rate`) and retried
 * while the peer is away, so the thermometer never waits for it. Any message on another path
 * is acknowledged with the latest reading.
 *
 * Neither a missing peer nor a sensor glitch ends it: a failed read (CRC `NO`, the 85 °C
 * power-on value, EIO, a 1-Wire device that vanished) is logged at the start of a burst and
 * when readings resume, counted in {@link sensorStatus}, and sampling goes on at its interval.
 * Only "no such sensor" at start-up is fatal.
 *
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` from the constructor for a bad `rate`.
 */
export default class Thermometer extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'stream temperature readings on /readings (and --to a peer)';
  static override readonly options = options;
  /** `/readings`: the last 1000 readings held for late subscribers; a slow subscriber skips to the newest (conflation). */
  static override readonly streams = { [READINGS_CHANNEL]: { history: 1000, delivery: 'latest' } } as const;
  /** With `--ha-discovery`: a temperature sensor in Home Assistant, reading `/readings`. */
  static readonly homeAssistant: readonly HaEntity[] = [
    { component: 'sensor', objectId: 'temperature', stream: READINGS_CHANNEL, deviceClass: 'temperature', unit: '°C', stateClass: 'measurement', valueTemplate: '{{ value_json.temperature }}' },
  ];

  /** The most recent reading, once one was taken. */
  latest?: Reading;

  readonly #sensorOptions: SensorOptions;
  readonly #rate?: RateLimit;
  #sensor?: TemperatureSensor;
  #opening?: Promise<TemperatureSensor>;
  #outbox?: Outbox;
  #errors = 0;
  #lastError?: string;
  /** Set while samples fail: when the burst started (ms since the epoch) and how many failed. */
  #burst?: { since: number; failed: number };

  constructor(config: ThermometerConfig = {}) {
    super(config);
    this.#sensorOptions = config.sensorOptions ?? {};
    const rate = this.options.rate;
    if (rate !== undefined) this.#rate = parseRate(rate, '--rate');
  }

  /** The status (`GET /.well-known/sketch`) with the sensor's health under `sensor`. */
  override status(): SketchStatus {
    return { ...super.status(), sensor: this.sensorStatus };
  }

  /** The sensor's health: failed samples so far, whether it is failing now, the last error. */
  get sensorStatus(): SensorStatus {
    const status: SensorStatus = { errors: this.#errors, failing: this.#burst !== undefined };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  /**
   * Opens the sensor. A sensor that exists but cannot be read right now is not fatal: it is
   * opened again on the next sample.
   * @throws SketchError `SKETCH_ERR_SENSOR_NOT_FOUND` (no such sensor: fatal),
   *   `SKETCH_ERR_INVALID_OPTION`.
   */
  override async setup(o: OptionValues<typeof options>): Promise<void> {
    try {
      await this.#open();
    } catch (err) {
      if (!(err instanceof SketchError && err.code === 'SKETCH_ERR_SENSOR_READ')) throw err;
      this.#failed(err);
    }
    if (this.to) this.#outbox = this.outbox(this.to, { maxItems: o.queue, batch: o.batch, rate: this.#rate });
  }

  /**
   * Takes one reading, publishes it on `/readings` and pushes it to the `--to` peer's outbox
   * (never waiting for the peer); resolves with it.
   * @throws SketchError `SKETCH_ERR_SENSOR_READ` when the sample failed (already counted and logged).
   */
  async sample(): Promise<Reading> {
    let reading: Reading;
    try {
      reading = await this.#read();
    } catch (err) {
      if (!this.signal.aborted) this.#failed(err);
      throw err;
    }
    this.#resumed();
    this.latest = reading;
    this.log.debug(`${reading.temperature.toFixed(3)} °C from ${reading.sensor}`); // 10 Hz of these: --verbose only
    this.publish(READINGS_CHANNEL, reading, { time: reading.time });
    this.#outbox?.push(reading);
    return reading;
  }

  @reactive
  override async loop(): Promise<Reading> {
    return this.latest ?? (await this.#read());
  }

  /** Samples every `interval` seconds until the sketch is closed; failed samples are skipped, never fatal. */
  override async main(): Promise<void> {
    const period = this.options.interval * 1000;
    // Scheduled on the monotonic clock: a step of the wall clock (NTP at boot, libfaketime) never
    // stops sampling (a backward step made the next sample an hour away) nor bunches it up.
    for (let next = performance.now(); !this.signal.aborted; ) {
      try {
        await this.sample();
      } catch {
        // counted and logged by sample(); the next one may succeed
      }
      next += period;
      const now = performance.now();
      if (next < now - period) next = now; // a slow read (DS18B20 re-reads): no burst of catch-up samples
      try {
        await sleep(Math.max(0, next - now), undefined, { signal: this.signal });
      } catch {
        // closed while waiting: a normal end
      }
    }
  }

  async #read(): Promise<Reading> {
    const sensor = this.#sensor ?? (await this.#open());
    return sensor.read();
  }

  #open(): Promise<TemperatureSensor> {
    this.#opening ??= (async () => {
      try {
        const { sensor, fellBack, notice } = await openSensor(this.options.sensor as SensorKind, this.#sensorOptions);
        if (fellBack && notice) this.out(notice);
        this.#sensor = sensor;
        this.out(`reading ${sensor.description} every ${this.options.interval} s`);
        return sensor;
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }

  /** One failed sample: counted; logged only when it starts a burst. */
  #failed(err: unknown): void {
    this.#errors++;
    this.#lastError = oneLine(err);
    if (this.#burst) {
      this.#burst.failed++;
      return;
    }
    this.#burst = { since: Date.now(), failed: 1 };
    this.log.warn(`sensor read failed: ${this.#lastError}; still sampling every ${this.options.interval} s`);
  }

  /** A good sample: ends a burst of failures, with one line. */
  #resumed(): void {
    const burst = this.#burst;
    if (!burst) return;
    this.#burst = undefined;
    const seconds = Number(((Date.now() - burst.since) / 1000).toFixed(1));
    this.out(`readings resumed after ${burst.failed} failed sample(s) over ${seconds} s`);
  }
}
