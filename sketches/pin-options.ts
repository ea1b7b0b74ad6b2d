import type { OptionValues, OutputOptions, Sketch } from '../runtime/index.js';
import { BIASES, DRIVES, type Bias, type Drive } from '../runtime/hardware/gpio-chardev.js';
import { GPIO_BACKENDS, type GpioBackendName } from '../runtime/hardware/gpio.js';
import { MAX_LEASE_MS } from '../runtime/hardware/guardian.js';
import { EDGE_DETECTIONS, MAX_DEBOUNCE_MS } from '../runtime/hardware/input.js';

/** Option specs shared by the sketches that drive a GPIO output (buzzer, iopin). */
export const gpioOptions = {
  gpio: {
    type: 'string',
    choices: GPIO_BACKENDS,
    default: 'auto',
    describe: 'GPIO backend: chardev (the kernel GPIO character device), sysfs (through onoff), virtual (in memory, logged) or auto (chardev on a Raspberry Pi chip, else sysfs, else virtual)',
  },
  chip: {
    type: 'string',
    describe: 'chardev: the GPIO chip as /dev/gpiochipN, gpiochipN or its label (default: the Raspberry Pi chip, found by its label)',
  },
  line: {
    type: 'string',
    describe: 'chardev: a line name (e.g. GPIO17, as gpioinfo lists) instead of --pin',
  },
  activeLow: { type: 'boolean', default: false, describe: 'the output is active at 0 V (inactive level is high)' },
  lease: {
    type: 'number',
    integer: true,
    min: 0,
    max: MAX_LEASE_MS,
    default: 0,
    describe: 'ms an active output may go without a refresh from this process (hung or stopped) before its guardian turns it off; 0 = no lease',
  },
  drive: {
    type: 'string',
    choices: DRIVES,
    default: 'push-pull',
    describe: 'chardev: output drive',
  },
  bias: {
    type: 'string',
    choices: BIASES,
    default: 'as-is',
    describe: 'chardev: the line\'s pull resistors (outputs: e.g. pull-down keeps a buzzer quiet while the line floats)',
  },
} as const;

/**
 * Option specs shared by the sketches that read a GPIO input (button). The defaults fit a
 * push button wired from the pin to GND: the internal pull-up holds the line high while the
 * button is open, so the pin is active low (pressed = 0 V = logical 1).
 */
export const inputOptions = {
  gpio: gpioOptions.gpio,
  chip: gpioOptions.chip,
  line: gpioOptions.line,
  bias: {
    ...gpioOptions.bias,
    default: 'pull-up',
    describe: "chardev: the line's pull resistors; pull-up (the default) for a button to GND, pull-down for one to 3.3 V (sysfs cannot set them)",
  },
  activeLow: { type: 'boolean', default: true, describe: 'the input is active (pressed, logical 1) at 0 V, as a button to GND with a pull-up is; --no-active-low for a button to 3.3 V' },
  edge: { type: 'string', choices: EDGE_DETECTIONS, default: 'both', describe: 'edges reported: both, rising (to active: presses only) or falling (releases only)' },
  debounce: {
    type: 'number',
    min: 0,
    max: MAX_DEBOUNCE_MS,
    default: 20,
    describe: `ms a level must hold before its edge is reported (0 to ${MAX_DEBOUNCE_MS}; 0 = none)`,
  },
} as const;

/** A BCM pin number option. */
export const pinOption = (describe: string) =>
  ({ type: 'number', integer: true, min: 0, max: 1023, describe }) as const;

/**
 * The `openOutput()` options of a sketch's GPIO output from its {@link gpioOptions} values:
 * backend, active-low, chip, drive, bias, lease, the consumer `sketchnet:<sketch name>`, and
 * log lines through the sketch.
 */
export function outputOptions(sketch: Sketch, o: OptionValues<typeof gpioOptions>): OutputOptions {
  return {
    backend: o.gpio as GpioBackendName,
    activeLow: o.activeLow,
    chip: o.chip,
    drive: o.drive as Drive,
    bias: o.bias as Bias,
    consumer: `sketchnet:${sketch.name}`,
    lease: o.lease,
    log: (line) => sketch.out(line),
  };
}
