/**
 * Reading the words typed after `sketch service install`, without loading the command itself:
 * bin/cli.ts needs the sketch they name before parsing (to know its options).
 */
import type { Options } from 'yargs';

/** The service name of `sketch service install --device FILE` without `--name`: `sketch-up.service`. */
export const DEVICE_UNIT_NAME = 'up';

/** The options of `sketch service install` itself; every other option goes to `sketch run`. */
export const INSTALL_OPTIONS = {
  user: {
    type: 'boolean',
    default: false,
    describe: 'a user unit (~/.config/systemd/user, no root needed; starts at login, or at boot with "loginctl enable-linger")',
    group: 'Service:',
  },
  print: { type: 'boolean', default: false, describe: 'print the unit instead of writing it', group: 'Service:' },
  'environment-file': {
    type: 'string',
    requiresArg: true,
    describe: 'a file of NAME=value lines the service reads (SKETCH_KEY=… for a peer that wants a key): EnvironmentFile=, never the key itself in the unit',
    group: 'Service:',
  },
  'accept-push': {
    type: 'boolean',
    default: false,
    describe: 'with --device: the unit runs "sketch up FILE --accept-push" (sketch push may replace its sketches)',
    group: 'Service:',
  },
  device: {
    type: 'string',
    requiresArg: true,
    describe: `instead of one sketch: ONE unit running "sketch up FILE --restart on-failure" for every sketch of this device file (checked now; NAME: --name, else ${DEVICE_UNIT_NAME})`,
    group: 'Service:',
  },
} as const satisfies Record<string, Options>;

/** Flags of `service install` that take a value (the others are booleans). */
const VALUED = new Set(['environment-file', 'device']);

/**
 * The arguments for `sketch run` in `args`, the words typed after `sketch service install`:
 * `install`'s own options (`--user`, `--print`, `--environment-file FILE`, in any form: `--no-user`,
 * `--environment-file=FILE`) taken out, everything else kept as typed, in order. After `--` nothing is
 * taken out.
 */
export function runArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const flag = /^--(?:no-)?([a-z-]+)(=.*)?$/.exec(a);
    const name = flag?.[1];
    if (name === undefined || !(name in INSTALL_OPTIONS)) {
      out.push(a);
      continue;
    }
    if (VALUED.has(name) && flag![2] === undefined) i++; // its value is the next word
  }
  return out;
}

/**
 * The sketch `sketch service install SKETCH …` names (loaded before parsing, as for `run`, so its
 * options are known); undefined for any other command, and for `--device FILE`.
 */
export function serviceSpec(args: readonly string[]): string | undefined {
  if (args[0] !== 'service' || args[1] !== 'install') return undefined;
  if (args.some((a) => a === '--device' || a.startsWith('--device='))) return undefined; // a device file: no one sketch
  return runArgs(args.slice(2)).find((a) => a !== '' && !a.startsWith('-'));
}
