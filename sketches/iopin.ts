import { setTimeout as sleep } from 'node:timers/promises';
import { openOutput, reactive, Sketch, type OptionValues, type OutputPin } from '../runtime/index.js';
import { LOG_TEXT_MAX, printable } from '../runtime/text.js';
import { gpioOptions, outputOptions, pinOption } from './pin-options.js';
import { DEFAULT_ACK_TIMEOUT_MS } from '../runtime/net/peer.js'; // a sender's (the clock's) default: a longer tick misses it
import { streamPin } from './pin-stream.js';

const options = {
  chance: { type: 'number', min: 0, max: 1, default: 0.5, describe: 'probability that a drawn bit is 0' },
  sequence: { type: 'number', integer: true, min: 1, default: 3, describe: 'bits drawn per tick' },
  pin: pinOption('BCM number of an output pin to drive with each drawn bit (default: none)'),
  bitMs: {
    type: 'number',
    integer: true,
    min: 0,
    max: 10_000,
    default: 100,
    describe: 'ms each bit is held on --pin and --to before the next (then both go back to 0 until the next tick); 0 = back to back, the last bit left as it is',
  },
  ...gpioOptions,
} as const;

/**
 * The IO pin: on every tick it draws `sequence` random bits (each 0 with probability
 * `chance`). With `pin` it drives that GPIO output with each bit in turn; with `to` it
 * streams each bit to that peer (a buzzer), awaiting each acknowledgement in order.
 * Each bit is held `bitMs` ms (after the peer's acknowledgement) before the next, so that a 1
 * sounds long enough to hear; after the last one, a pin left at 1 is driven back to 0 and the
 * peer is sent a final `0` (its acknowledgement is not among `acks`), so the buzzer is silent
 * between ticks. With `bitMs` 0 the bits go back to back and the last stays until the next
 * tick, as before. Closing the sketch ends a hold at once. Without `pin` and `to` nothing is
 * driven and nothing held.
 * Its own acknowledgement, sent after the last bit's hold, is the bits, `[1,0,1]`, or with a
 * peer what the peer answered too: `{"bits":[1,0,1],"acks":["bzzz","...","bzzz"]}`.
 * With `pin`, each change of the pin is published on `/pin` (see ./pin-stream.ts); without it
 * the iopin has no stream (`/pin` is not declared: its first item, at start-up, makes it).
 */
export default class IOPin extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'draw random bits on every tick, drive a pin and stream them to a peer';
  static override readonly options = options;
  /** Drives a pin only with `--pin`, and not with `--gpio virtual`. */
  static override drivesPins(o: Record<string, unknown>): boolean {
    return (o.pin !== undefined || o.line !== undefined) && o.gpio !== 'virtual';
  }

  #pin?: OutputPin;

  /** The `--pin` output (open from `setup()` until the sketch stops), if there is one. */
  get output(): OutputPin | undefined {
    return this.#pin;
  }

  override setup(o: OptionValues<typeof options>): void {
    const held = o.sequence * o.bitMs;
    if ((o.pin !== undefined || o.line !== undefined || this.to) && held >= DEFAULT_ACK_TIMEOUT_MS) {
      this.log.warn(`a tick holds its bits ${held} ms (--sequence × --bit-ms): a sender such as the clock gives up after ${DEFAULT_ACK_TIMEOUT_MS / 1000} s without an acknowledgement`);
    }
    const pin = o.line ?? o.pin;
    if (pin === undefined) return;
    this.#pin = openOutput(pin, outputOptions(this, o));
    this.out(`driving ${o.line ?? `BCM ${o.pin}`} (${this.#pin.backend})`);
    streamPin(this, this.#pin);
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
    const { bitMs } = this.options;
    const acks: string[] = [];
    for (const bit of bits) {
      this.#pin?.write(bit);
      if (this.to) acks.push(await this.stream(this.to, String(bit)));
      if (bitMs > 0) await this.#hold(bitMs);
    }
    if (bitMs > 0 && bits.at(-1) === 1) {
      // Held bits end at 0: the pin and the buzzer are quiet until the next tick.
      this.#pin?.write(0);
      if (this.to) await this.stream(this.to, '0');
    }
    return this.to ? { bits, acks } : bits;
  }

  /** Waits `ms`; rejects at once with the sketch's close reason (SKETCH_ERR_CLOSED) when it closes. */
  async #hold(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.signal }).catch(() => this.signal.throwIfAborted());
  }

  override teardown(): void {
    this.#pin?.close();
  }
}
