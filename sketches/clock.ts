import { setTimeout as sleep } from 'node:timers/promises';
import { Sketch, type OptionValues } from '../runtime/index.js';

const options = {
  tacks: { type: 'number', integer: true, min: 0, default: 5, describe: 'number of ticks to send (0, 1, 2, …)' },
  delay: { type: 'number', min: 0, default: 1, describe: 'seconds between ticks' },
} as const;

/**
 * The clock: finds its peer (`--to`, default `iopin`), sends the ticks `0`…`tacks-1` one
 * per `delay` seconds, waits for each acknowledgement before the next and prints each
 * exchange. Its job ends after the last acknowledgement.
 */
export default class Clock extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'send numbered ticks to a peer and print each acknowledgement';
  static override readonly options = options;
  static override readonly defaultTo = 'iopin';

  override async main(): Promise<void> {
    const { tacks, delay } = this.options;
    for (let tick = 0; tick < tacks; tick++) {
      // Ends at once when the sketch closes (a signal): main() rejects with the signal's reason (SKETCH_ERR_CLOSED).
      if (tick > 0 && delay > 0) await sleep(delay * 1000, undefined, { signal: this.signal }).catch(() => this.signal.throwIfAborted());
      this.out(`> ${tick}`);
      this.out(`< ${await this.stream(this.to!, String(tick))}`);
    }
  }
}
