import { errors, openOutput, reactive, Sketch, type HaEntity, type OptionValues, type OutputPin } from '../runtime/index.js';
import { gpioOptions, outputOptions, pinOption } from './pin-options.js';
import { PIN_STREAM, PIN_STREAM_SPEC, streamPin } from './pin-stream.js';
import { MAX_TONE_HZ, MIN_TONE_HZ, openPwm, type PwmOutput } from '../runtime/hardware/pwm.js';

const options = {
  pin: { ...pinOption('BCM number of the output pin driving the buzzer'), default: 18 },
  ...gpioOptions,
  lease: { ...gpioOptions.lease, describe: 'ms a sounding buzzer (an active output, or a --tone) may go without a refresh from this process (hung or stopped) before its guardian silences it; 0 = no lease' },
  sound: { type: 'string', default: 'bzzz', describe: 'acknowledgement sent for a 1' },
  beep: { type: 'number', integer: true, min: 1, describe: 'ms a 1 sounds before going quiet by itself (default: until a 0)' },
  tone: { type: 'number', min: MIN_TONE_HZ, max: MAX_TONE_HZ, describe: 'Hz: a passive buzzer, driven with hardware PWM at this tone (GPIO 12, 13, 18 or 19; default: none, an active buzzer)' },
  pwmChip: { type: 'number', integer: true, min: 0, describe: 'with --tone: N of /sys/class/pwm/pwmchipN (default: the Raspberry Pi PWM0 for --pin)' },
  pwmChannel: { type: 'number', integer: true, min: 0, describe: 'with --tone: the channel on that chip (default: the one wired to --pin)' },
} as const;

/**
 * The buzzer: an active buzzer on a GPIO output. Message `1` drives the pin active (for
 * `beep` ms when given, else until a `0`) and is acknowledged with the sound (`bzzz`); `0`
 * drives it inactive and is acknowledged with `...`. Anything else gets an error reply and
 * changes nothing. The pin goes inactive when the sketch stops, on signals and on crashes,
 * and — through the GPIO guardian — when the process is killed (SIGKILL) or, with `lease`,
 * hangs while the buzzer sounds.
 *
 * With `tone` (Hz) it drives a passive buzzer instead: the pin's hardware PWM channel
 * (runtime/hardware/pwm.ts) sounds a square wave at that frequency for a `1` and is disabled for
 * a `0`; the GPIO output is not opened. The guardian covers the PWM channel too (SIGKILL:
 * `enable` 0 and unexport; `lease`: `enable` 0). `--gpio virtual` keeps the virtual pin, tone or not.
 *
 * Each change of the pin (with `tone`: of the tone, on or off) is published on `/pin`, starting
 * with its initial 0 (see ./pin-stream.ts): `sketch tap buzzer/pin` shows it.
 */
export default class Buzzer extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'sound an active buzzer on a GPIO pin: 1 = on, 0 = off';
  static override readonly options = options;
  /** `/pin`: each change of the buzzer's pin or tone, `{ pin, value, time }`. */
  static override readonly streams = { [PIN_STREAM]: PIN_STREAM_SPEC };
  /** With `--ha-discovery`: a switch in Home Assistant whose on/off are the messages `1`/`0` to the loop. */
  static readonly homeAssistant: readonly HaEntity[] = [{ component: 'switch', objectId: 'buzzer', command: '/', payloadOn: '1', payloadOff: '0' }];
  /** Drives its pin unless `--gpio virtual`. */
  static override drivesPins(o: Record<string, unknown>): boolean {
    return o.gpio !== 'virtual';
  }

  #pin?: OutputPin;
  #beep?: NodeJS.Timeout;
  #pwm?: PwmOutput;

  /** The output pin (open from `setup()` until the sketch stops). */
  get output(): OutputPin | undefined {
    return this.#pin;
  }

  /** With `tone`: the PWM channel sounding it (open from `setup()` until the sketch stops). */
  get pwm(): PwmOutput | undefined {
    return this.#pwm;
  }

  override setup(o: OptionValues<typeof options>): void | Promise<void> {
    if (o.tone !== undefined && o.gpio !== 'virtual') return this.#openTone(o, o.tone);
    this.#pin = openOutput(o.line ?? o.pin, outputOptions(this, o));
    const lease = o.lease && this.#pin.backend === 'sysfs' ? `, lease ${o.lease} ms` : '';
    this.out(`buzzer on ${o.line ?? `BCM ${o.pin}`} (${this.#pin.backend}${o.activeLow ? ', active low' : ''}${lease})`);
    streamPin(this, this.#pin);
  }

  @reactive
  override async loop(_channel: string, message: string): Promise<string> {
    const pin = this.#pwm ?? this.#pin!;
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

  /** `--tone`: the PWM owns the pin, so no GPIO output is opened. */
  async #openTone(o: OptionValues<typeof options>, hz: number): Promise<void> {
    if (o.activeLow) throw errors.INVALID_OPTION('--active-low applies to a GPIO output, not to --tone (hardware PWM, silent at enable 0): drop it');
    this.#pwm = await openPwm({ pin: o.pin, tone: hz, chip: o.pwmChip, channel: o.pwmChannel, lease: o.lease, log: (line) => this.out(line) });
    const lease = o.lease ? `, lease ${o.lease} ms` : '';
    this.out(`buzzer on BCM ${o.pin} (PWM ${this.#pwm.chip}/pwm${this.#pwm.channel}, tone ${hz} Hz${lease})`);
    streamPin(this, this.#pwm);
  }

  override teardown(): void {
    clearTimeout(this.#beep);
    this.#pin?.close();
    this.#pwm?.close();
  }
}
