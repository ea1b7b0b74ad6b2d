import { MAX_LEASE_MS } from '../runtime/index.js';

/** Option specs shared by the sketches that drive a GPIO output (buzzer, iopin). */
export const gpioOptions = {
  gpio: {
    type: 'string',
    choices: ['auto', 'sysfs', 'virtual'],
    default: 'auto',
    describe: 'GPIO backend: sysfs (real pins through onoff), virtual (in memory, logged) or auto',
  },
  activeLow: { type: 'boolean', default: false, describe: 'the output is active at 0 V (inactive level is high)' },
  lease: {
    type: 'number',
    integer: true,
    min: 0,
    max: MAX_LEASE_MS,
    default: 0,
    describe: 'ms an active sysfs output may go without a refresh from this process (hung or stopped) before its guardian turns it off; 0 = no lease',
  },
} as const;

/** A BCM pin number option. */
export const pinOption = (describe: string) =>
  ({ type: 'number', integer: true, min: 0, max: 1023, describe }) as const;
