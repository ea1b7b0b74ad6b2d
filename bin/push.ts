import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { errors, MdnsDiscovery } from '../runtime/index.js';
import { parsePeerAddress } from '../runtime/net/address.js';
import { pushSketch, PUSH_TIMEOUT_MS, running } from '../runtime/push-client.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';

interface PushArgs {
  target: string;
  file?: string;
  rollback: boolean;
  'discover-timeout': number;
  timeout: number;
}

/**
 * `sketch push NAME|HOST:PORT FILE [--key KEY] [--ca FILE]` and `sketch push NAME --rollback`:
 * sends a sketch file to a device running `sketch up --accept-push` (runtime/push-client.ts),
 * which swaps it in place of the sketch NAME and keeps it on probation (runtime/push.ts). One
 * line and exit 0 once it runs (`counter: version 3 running (reloaded in 0.4 ms)`); one line and
 * exit 1 when it was refused (`SKETCH_ERR_PUSH_REFUSED`) or failed and was rolled back
 * (`SKETCH_ERR_PUSH_FAILED`).
 */
export const pushCommand: CommandModule<object, PushArgs> = {
  builder: (y) =>
    y
      .positional('target', { type: 'string', demandOption: true, describe: 'the sketch: its instance name, or HOST:PORT (https://HOST:PORT for TLS)' })
      .positional('file', { type: 'string', describe: 'the sketch file (.ts/.js) to run in its place' })
      .option('rollback', { type: 'boolean', default: false, describe: 'restore the version that ran before the last push (or rollback) instead' })
      .option('discover-timeout', { type: 'number', default: 5, requiresArg: true, describe: 'seconds to look for the sketch by name' })
      .option('timeout', { type: 'number', default: PUSH_TIMEOUT_MS / 1000, requiresArg: true, describe: 'seconds to wait for the answer (it comes after a 10 s probation)' })
      .options({ key: { ...CLIENT_SECURITY_OPTIONS.key, describe: 'an admin key of the sketch (default: $SKETCH_KEY; "sketch key new --admin"); sent only over TLS or to loopback' }, ca: CLIENT_SECURITY_OPTIONS.ca })
      .check((a) => {
        parsePeerAddress(String(a.target));
        if (a.rollback && a.file !== undefined) throw errors.INVALID_OPTION('--rollback restores the previous version: give no file with it');
        if (!a.rollback && a.file === undefined) throw errors.INVALID_OPTION('name the sketch file to push (sketch push counter ./counter.ts), or --rollback');
        if (!(a.timeout > 0)) throw errors.INVALID_OPTION(`--timeout must be a number of seconds > 0, got ${a.timeout}`);
        if (!(a['discover-timeout'] >= 0)) throw errors.INVALID_OPTION(`--discover-timeout must be a number of seconds ≥ 0, got ${a['discover-timeout']}`);
        return true;
      }),
  handler: async (argv) => {
    const security = await clientSecurity(argv).catch(die);
    let push: { file: string; source: string } | undefined;
    if (argv.file !== undefined) {
      const source = await readFile(argv.file, 'utf8').catch((err: unknown) => die(errors.SKETCH_FILE(argv.file!, err)));
      push = { file: path.basename(argv.file), source };
    }
    const address = parsePeerAddress(argv.target);
    let url: string;
    let name: string | undefined;
    if (address.kind === 'name') {
      const discovery = new MdnsDiscovery();
      try {
        const found = await discovery.resolve(address.name, argv['discover-timeout'] * 1000);
        ({ url, name } = found);
      } catch (err) {
        await discovery.close().catch(() => {});
        die(err);
      }
      await discovery.close().catch(() => {});
    } else url = address.target;
    try {
      const answer = await pushSketch({ url, label: name ?? argv.target, name, push, security, timeoutMs: argv.timeout * 1000 });
      if (push) console.log(`${answer.name}: ${running(answer)} running (reloaded in ${(answer.pauseMs ?? 0).toFixed(1)} ms)`);
      else console.log(`${answer.name}: ${running(answer)} running again (rolled back from ${answer.replaced ? `version ${answer.replaced}` : "the device file's version"})`);
    } catch (err) {
      die(err);
    }
    process.exit(0);
  },
};
