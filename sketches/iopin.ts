import { reactive, Sketch, type OptionValues } from '../runtime/index.js';

const options = {
  chance: { type: 'number', min: 0, max: 1, default: 0.5, describe: 'probability that a drawn bit is 0' },
  sequence: { type: 'number', integer: true, min: 1, default: 3, describe: 'bits drawn per tick' },
} as const;

/**
 * The IO pin: on every tick it draws `sequence` random bits (each 0 with probability
 * `chance`) and acknowledges with them, e.g. `[1,0,1]`.
 */
export default class IOPin extends Sketch<OptionValues<typeof options>> {
  static override readonly description = 'draw random bits on every tick and acknowledge with them';
  static override readonly options = options;

  /** Draws one bit: 0 with probability `chance`. */
  state(): 0 | 1 {
    return Math.random() < this.options.chance ? 0 : 1;
  }

  @reactive
  override async loop(channel: string, message: string): Promise<Array<0 | 1>> {
    this.out(`new tick triggered on ${channel}: ${message}`);
    const bits = Array.from({ length: this.options.sequence }, () => this.state());
    this.out(`toggling pin state: ${bits.join(' ')}`);
    return bits;
  }
}
