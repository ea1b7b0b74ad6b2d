import { isReactive, Sketch } from '../runtime/index.js';

/** The line `sketch run` logs (level warn, once, at start) for a sketch whose `loop` is not `@reactive`. */
export const NOT_REACTIVE_WARNING =
  'warning: loop is not @reactive: messages get no acknowledgement (and "sketch send" waits for one in vain); decorate it: @reactive override async loop(…)';

/**
 * {@link NOT_REACTIVE_WARNING} when `sketch`'s class overrides `loop` without decorating it with
 * `@reactive` (its messages are then read and never answered); undefined when `loop` is
 * `@reactive` or not overridden at all (a sketch that only publishes streams or runs `main()`).
 */
export function loopWarning(sketch: Sketch): string | undefined {
  if (sketch.loop === Sketch.prototype.loop || isReactive(sketch.loop)) return undefined;
  return NOT_REACTIVE_WARNING;
}
