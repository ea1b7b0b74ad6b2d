import type { CommandModule } from 'yargs';
import { newKey } from '../runtime/index.js';
import { keyLine } from '../runtime/security/keys.js';

interface KeyNewArgs {
  read?: boolean;
  write?: boolean;
  admin?: boolean;
  label?: string;
}

/**
 * `sketch key new --read|--write|--admin [--label TEXT]`: prints one new random key (256 bits) as a
 * line of a key file, `write <key> [label]`, so that `sketch key new --write >> keys` adds it.
 * The key is printed once and kept nowhere else.
 */
export const keyCommand: CommandModule = {
  builder: (y) =>
    y
      .positional('action', { type: 'string', choices: ['new'], describe: 'new: print a new key as a line of a key file' })
      .option('read', { type: 'boolean', describe: 'a key that may subscribe to streams and read the status' })
      .option('write', { type: 'boolean', describe: 'a key that may also send messages' })
      .option('admin', { type: 'boolean', describe: 'a key that may also replace the sketches of a `sketch up --accept-push` device (`sketch push`)' })
      .option('label', { type: 'string', requiresArg: true, describe: 'who holds it: written after the key on its line' })
      .conflicts('read', 'write')
      .conflicts('read', 'admin')
      .conflicts('write', 'admin')
      .check((a) => {
        if (!a.read && !a.write && !a.admin) throw new Error('say what the key may do: --read, --write or --admin');
        if (a.label !== undefined && /[\r\n#]/.test(String(a.label))) throw new Error('--label must be one line without "#"');
        return true;
      }),
  handler: (argv) => {
    const a = argv as KeyNewArgs;
    console.log(keyLine(a.admin ? 'admin' : a.write ? 'write' : 'read', newKey(), a.label));
  },
};
