import { LOG_TEXT_MAX, openOutput, printable, reactive, Sketch, type GpioBackendName, type OptionValues, type OutputPin } from '../runtime/index.js';
import { gpioOptions, pinOption } from './pin-options.js';

const options = {
  chance: { type: 'number', min: 0, max: 1, default: 0.5, describe: 'probability that a drawn bit is 0' },
  sequence: { type: 'number', integer: true, min: 1, default: 3, describe: 'bits drawn per tick' },
  pin: pinOption('BCM number of an output pin to drive with each drawn bit (default: none)'),
  ...gpioOptions,
} as const;

/**
 * The IO pin: on every tick it draws `sequence` random bits (each 0 with probability
 * `chance`). With `pin` it drives that GPIO output with each bit in turn; with `to` it
 * streams each bit to that peer (a buzzer), awaiting each acknowledgement in order.
 * Its own acknowledgement is the bits, `[1,0,1]`, or with a peer what the peer answered too:
 * `{"bits":[1,0,1],"acks":["bzzz","...","bzzz"]}`.
 */
export default class IOPin extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'draw random bits on every tick, drive a pin and stream them to a peer';
  static override readonly options = options;
  /** Drives a pin only with `--pin`, and not with `--gpio virtual`. */
  static override drivesPins(o: Record<string, unknown>): boolean {
    return o.pin !== undefined && o.gpio !== 'virtual';
  }

  #pin?: OutputPin;

  override setup(o: OptionValues<typeof options>): void {
    if (o.pin === undefined) return;
    this.#pin = openOutput(o.pin, {
      backend: o.gpio as GpioBackendName,
      activeLow: o.activeLow,
      lease: o.lease,
      log: (l) => this.out(l),
    });
    this.out(`driving BCM ${o.pin} (${this.#pin.backend})`);
  }

  /** Draws one bit: 0 with probability `chance`. */
  state(): 0 | 1 {
    return Math.random() < this.options.chance ? 0 : 1;
  }

  @reactive
  override async loop(channel: string, message: string): Promise<Array<0 | 1> | { bits: Array<0 | 1>; acks: string[] }> {
    this.out(`new tick triggered on ${printable(channel, LOG_TEXT_MAX)}: ${printable(message, LOG_TEXT_MAX)}`);
    const bits = Array.from({ length: this.options.sequence }, () => this.state());
    this.out(`toggling pin state: ${bits.join(' ')}`);
    if (!this.#pin && !this.to) return bits;
    const acks: string[] = [];
    for (const bit of bits) {
      this.#pin?.write(bit);
      if (this.to) acks.push(await this.stream(this.to, String(bit)));
    }
    return this.to ? { bits, acks } : bits;
  }

  override teardown(): void {
    this.#pin?.close();
  }
}
