import type { Bit, PublishOptions, StreamSpec } from '../runtime/index.js';

/** Where a sketch that drives a pin (the buzzer; the iopin with `--pin`) publishes each change of it. */
export const PIN_STREAM = '/pin';

/**
 * `/pin`'s declaration, for `static streams`: the last 1000 changes held for late subscribers
 * (the recorder, `sketch tap buzzer/pin?history=all`), and every one delivered (`all`): a
 * subscriber that falls too far behind is closed rather than skipping a transition.
 */
export const PIN_STREAM_SPEC = { history: 1000, delivery: 'all' } as const satisfies StreamSpec;

/** One item of `/pin`: the pin was driven to a new logical value. */
export interface PinItem {
  /** The pin: its BCM number (on chardev, the line offset or name as given). */
  pin: number | string;
  /** The logical value it was driven to: 1 = active (the buzzer sounds), 0 = inactive. */
  value: Bit;
  /**
   * When, in seconds since the epoch (fractional, ms resolution), as every stream's items and
   * envelopes say it (the thermometer's readings, the button's edges): also the item's stream time.
   */
  time: number;
}

/** An output written with 0 and 1: a GPIO `OutputPin`, or the `PwmOutput` of the buzzer's `--tone`. */
export interface BitOutput {
  readonly pin: number | string;
  write(value: Bit): void;
}

/** What publishes the items: the sketch. */
export interface PinPublisher {
  publish(path: string, data: unknown, options?: PublishOptions): number;
}

const streamed = new WeakSet<BitOutput>();

/**
 * Publishes every change of `output` on the sketch's `/pin` stream ({@link PinItem}): wraps
 * the output's own `write`, so every writer (the loop, a `--beep` timer) publishes without
 * knowing it. A write that leaves the value as it was publishes nothing (writing 1 twice is
 * not a transition). `initial`, the value the output was opened at (default 0: outputs open
 * inactive), is published at once, so that a subscriber or the recorder starts from a known
 * level. Closing the output (which drives it inactive) publishes nothing: its subscribers have
 * been disconnected by then.
 *
 * Call it once per output, from `setup()`; a second call for the same output changes nothing.
 * Declare {@link PIN_STREAM} in `static streams` when the sketch always drives a pin (the
 * buzzer). A sketch whose pin is optional (the iopin's `--pin`) may leave it undeclared, so that
 * without a pin it lists no stream: the initial item, published from `setup()`, makes `/pin`
 * before the sketch serves or announces, with the defaults of an undeclared stream, which are
 * {@link PIN_STREAM_SPEC}'s. Returns `output`.
 */
export function streamPin<O extends BitOutput>(sketch: PinPublisher, output: O, initial: Bit = 0): O {
  if (streamed.has(output)) return output;
  streamed.add(output);
  const publish = (value: Bit) => {
    const item: PinItem = { pin: output.pin, value, time: Date.now() / 1000 };
    sketch.publish(PIN_STREAM, item, { time: item.time });
  };
  const write = output.write.bind(output);
  let last = initial;
  (output as BitOutput).write = (value: Bit): void => {
    write(value); // throws (a closed pin, a bad value) before anything is published
    if (value === last) return;
    last = value;
    publish(value);
  };
  publish(initial);
  return output;
}
