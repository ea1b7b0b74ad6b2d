import { setTimeout as sleep } from 'node:timers/promises';
import {
  openSensor,
  reactive,
  SENSOR_KINDS,
  Sketch,
  type OptionValues,
  type Reading,
  type SensorKind,
  type TemperatureSensor,
} from '../runtime/index.js';

const options = {
  sensor: { type: 'string', choices: SENSOR_KINDS, default: 'auto', describe: 'temperature source (auto = first real one, else simulated)' },
  interval: { type: 'number', min: 0.001, default: 1, describe: 'seconds between readings' },
} as const;

/** Where subscribers connect to receive every reading. */
export const READINGS_CHANNEL = '/readings';

/**
 * The thermometer: samples a temperature sensor every `interval` seconds. Each reading
 * (`{ time, temperature, unit: '°C', sensor }`, time in seconds since the epoch when sampled)
 * goes as one JSON text frame to every client connected on `/readings`, and to the `--to`
 * peer with `stream()` when one is given. Any message on another path is acknowledged with the
 * latest reading.
 */
export default class Thermometer extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'stream temperature readings on /readings (and --to a peer)';
  static override readonly options = options;

  #sensor?: TemperatureSensor;
  /** The most recent reading, once one was taken. */
  latest?: Reading;

  override async setup(o: OptionValues<typeof options>): Promise<void> {
    const { sensor, fellBack, notice } = await openSensor(o.sensor as SensorKind);
    if (fellBack && notice) this.out(notice);
    this.#sensor = sensor;
    this.out(`reading ${sensor.description} every ${o.interval} s`);
  }

  /** Takes one reading, publishes it and streams it to the peer; resolves with it. */
  async sample(): Promise<Reading> {
    const reading = await this.#sensor!.read();
    this.latest = reading;
    this.out(`${reading.temperature.toFixed(3)} °C from ${reading.sensor}`);
    this.publish(READINGS_CHANNEL, reading);
    if (this.to) await this.stream(this.to, reading);
    return reading;
  }

  @reactive
  override async loop(): Promise<Reading> {
    return this.latest ?? (await this.#sensor!.read());
  }

  /** Samples until the sketch is closed; a peer that cannot be reached ends it with an error. */
  override async main(): Promise<void> {
    const period = this.options.interval * 1000;
    try {
      for (let next = Date.now(); !this.signal.aborted; ) {
        await this.sample();
        next += period;
        await sleep(Math.max(0, next - Date.now()), undefined, { signal: this.signal });
      }
    } catch (err) {
      if (!this.signal.aborted) throw err; // closed while sampling or waiting: a normal end
    }
  }
}
