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
  /** Each tick as it is sent, `{ tick, trace }` (the trace id its request starts; null with `--no-trace`): the dashboard's tick markers and waterfall. */
  static override readonly streams = { '/ticks': { history: { items: 1000 }, delivery: 'all' as const } };

  override async main(): Promise<void> {
    const { tacks, delay } = this.options;
    for (let tick = 0; tick < tacks; tick++) {
      // Ends at once when the sketch closes (a signal): main() rejects with the signal's reason (SKETCH_ERR_CLOSED).
      if (tick > 0 && delay > 0) await sleep(delay * 1000, undefined, { signal: this.signal }).catch(() => this.signal.throwIfAborted());
      this.out(`> ${tick}`);
      this.out(`< ${await this.tick(tick)}`);
    }
  }

  /** Sends tick `n` in a trace of its own, published on `/ticks` with the trace id; resolves with the acknowledgement. */
  tick(n: number): Promise<string> {
    const tracer = this.tracer;
    if (!tracer) {
      this.publish('/ticks', { tick: n, trace: null });
      return this.stream(this.to!, String(n));
    }
    // The tick is the root: its `send` span's trace id is known once the send started.
    return tracer.root(`tick ${n}`, (trace) => {
      this.publish('/ticks', { tick: n, trace });
      return this.stream(this.to!, String(n));
    });
  }
}
