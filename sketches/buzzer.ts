import { errors, openOutput, reactive, Sketch, type GpioBackendName, type HaEntity, type OptionValues, type OutputPin } from '../runtime/index.js';
import { gpioOptions, pinOption } from './pin-options.js';

const options = {
  pin: { ...pinOption('BCM number of the output pin driving the buzzer'), default: 18 },
  ...gpioOptions,
  sound: { type: 'string', default: 'bzzz', describe: 'acknowledgement sent for a 1' },
  beep: { type: 'number', integer: true, min: 1, describe: 'ms a 1 sounds before going quiet by itself (default: until a 0)' },
} as const;

/**
 * The buzzer: an active buzzer on a GPIO output. Message `1` drives the pin active (for
 * `beep` ms when given, else until a `0`) and is acknowledged with the sound (`bzzz`); `0`
 * drives it inactive and is acknowledged with `...`. Anything else gets an error reply and
 * changes nothing. The pin goes inactive when the sketch stops, on signals and on crashes,
 * and — through the GPIO guardian — when the process is killed (SIGKILL) or, with `lease`,
 * hangs while the buzzer sounds.
 */
export default class Buzzer extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'sound an active buzzer on a GPIO pin: 1 = on, 0 = off';
  static override readonly options = options;
  /** With `--ha-discovery`: a switch in Home Assistant whose on/off are the messages `1`/`0` to the loop. */
  static readonly homeAssistant: readonly HaEntity[] = [{ component: 'switch', objectId: 'buzzer', command: '/', payloadOn: '1', payloadOff: '0' }];
  /** Drives its pin unless `--gpio virtual`. */
  static override drivesPins(o: Record<string, unknown>): boolean {
    return o.gpio !== 'virtual';
  }

  #pin?: OutputPin;
  #beep?: NodeJS.Timeout;

  /** The output pin (open from `setup()` until the sketch stops). */
  get output(): OutputPin | undefined {
    return this.#pin;
  }

  override setup(o: OptionValues<typeof options>): void {
    this.#pin = openOutput(o.pin, {
      backend: o.gpio as GpioBackendName,
      activeLow: o.activeLow,
      lease: o.lease,
      log: (line) => this.out(line),
    });
    const lease = o.lease && this.#pin.backend === 'sysfs' ? `, lease ${o.lease} ms` : '';
    this.out(`buzzer on BCM ${o.pin} (${this.#pin.backend}${o.activeLow ? ', active low' : ''}${lease})`);
  }

  @reactive
  override async loop(_channel: string, message: string): Promise<string> {
    const pin = this.#pin!;
    const bit = message.trim();
    if (bit !== '1' && bit !== '0') throw errors.BAD_MESSAGE(`the buzzer takes 1 or 0, got ${JSON.stringify(message.slice(0, 40))}`);
    clearTimeout(this.#beep);
    if (bit === '0') {
      pin.write(0);
      return '...';
    }
    pin.write(1);
    const ms = this.options.beep;
    if (ms !== undefined) this.#beep = setTimeout(() => pin.closed || pin.write(0), ms);
    return this.options.sound;
  }

  override teardown(): void {
    clearTimeout(this.#beep);
    this.#pin?.close();
  }
}
