/**
 * Every `sketch` command: its usage and one-line description (what `sketch --help` lists), and
 * its module, imported only when that command runs. `sketch --help` and `sketch ls` then load
 * neither the runtime's server nor the other commands (see bin/cli.ts).
 */
import type { Argv } from 'yargs';
import type { SketchClass } from '../runtime/index.js';
import { BUILTINS } from '../sketches/index.js';
import { COMPLETION_FLAG } from './completion.js';

/** The device file `sketch up` reads when none is named. */
export const DEVICE_FILE = 'sketchnet.yaml';

/** What `sketch --help` shows of a command: its usage and description. */
export interface CommandHead {
  /** The command as yargs reads it, positionals included (`run <sketch>`). */
  command: string;
  /** Its line in `sketch --help`. */
  describe: string;
}

/** One `sketch` command. */
export interface CommandEntry extends CommandHead {
  /**
   * Imports its module and adds the whole command (`head` + the module's options and handler)
   * to `y`. `cls`: the sketch class `sketch run X` / `sketch service install X` loaded first.
   */
  add: (y: Argv, head: CommandHead, cls: SketchClass | undefined) => Promise<void>;
}

/** The commands, in the order `sketch --help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    command: 'run <sketch>',
    describe: `run a sketch: a built-in (${Object.keys(BUILTINS).join(', ')}) or a .ts/.js file`,
    add: async (y, head, cls) => void y.command({ ...(await import('./run.js')).runCommand(cls), ...head }),
  },
  {
    command: 'ls',
    describe: 'list the sketches announced on the network (DNS-SD _sketch._tcp) with their streams, uptime and connections',
    add: async (y, head) => void y.command({ ...(await import('./ls.js')).lsCommand, ...head }),
  },
  {
    command: 'send <peer> [message...]',
    describe: 'send messages to a sketch (instance name, HOST:PORT or ws:// URL) and print each acknowledgement; - reads them from stdin',
    add: async (y, head) => void y.command({ ...(await import('./send.js')).sendCommand, ...head }),
  },
  {
    command: 'tap <target>',
    describe: 'print the items of a sketch stream as they arrive (like mosquitto_sub -v)',
    add: async (y, head) => void y.command({ ...(await import('./tap.js')).tapCommand, ...head }),
  },
  {
    command: 'push <target> [file]',
    describe: 'replace a sketch of a "sketch up --accept-push" device by a file, in place, with rollback if it fails (--rollback: the previous version)',
    add: async (y, head) => void y.command({ ...(await import('./push.js')).pushCommand, ...head }),
  },
  {
    command: 'trace <name>',
    describe: 'follow the requests a sketch handles across the sketches they reach: one tree of hops with latencies per trace',
    add: async (y, head) => void y.command({ ...(await import('./trace.js')).traceCommand, ...head }),
  },
  {
    command: 'demo',
    describe: 'run the circuit clock → iopin → buzzer in one process (as sketch up does), over mDNS + WebSocket',
    add: async (y, head) => void y.command({ ...(await import('./demo.js')).demoCommand, ...head }),
  },
  {
    command: 'key <action>',
    describe: 'make access keys for --key-file (sketch key new --write >> keys)',
    add: async (y, head) => void y.command({ ...(await import('./key.js')).keyCommand, ...head }),
  },
  {
    command: 'ca <action> [name]',
    describe: 'a private CA for your sketches: ca init, then ca issue NAME for each (TLS, see --tls-cert and --ca)',
    add: async (y, head) => void y.command({ ...(await import('./ca.js')).caCommand, ...head }),
  },
  {
    command: 'export',
    describe: "print a recorder database's items as CSV or NDJSON",
    add: async (y, head) => void y.command({ ...(await import('./export.js')).exportCommand, ...head }),
  },
  {
    command: 'replay',
    describe: 'announce the sketches of a recorder database again and republish their items as recorded',
    add: async (y, head) => void y.command({ ...(await import('./replay.js')).replayCommand, ...head }),
  },
  {
    command: 'check <files...>',
    describe: "type-check sketch files against sketchnet's types (needs typescript in your project)",
    add: async (y, head) => void y.command({ ...(await import('./check.js')).checkCommand, ...head }),
  },
  {
    command: 'service',
    describe: 'run a sketch at boot as a systemd service: install, uninstall',
    add: async (y, head, cls) => void y.command({ ...(await import('./service.js')).serviceCommand(cls), ...head }),
  },
  {
    command: 'up [file]',
    describe: `run every sketch of a device file (default ${DEVICE_FILE}) in one process`,
    add: async (y, head) => void y.command({ ...(await import('./up.js')).upCommand, ...head }),
  },
];

/** A command's name: the first word of its usage (`run` of `run <sketch>`). */
export const commandName = (entry: CommandEntry): string => entry.command.split(' ')[0]!;

/**
 * The command `args` (argv without node and the script) runs: its first word that is not an
 * option. Undefined for none (`sketch --help`), and while the completion script asks for words
 * (it then needs every command).
 */
export function invoked(args: readonly string[]): string | undefined {
  if (args[0] === COMPLETION_FLAG) return undefined;
  return args.find((a) => !a.startsWith('-'));
}
