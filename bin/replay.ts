import type { CommandModule } from 'yargs';
import { MdnsDiscovery } from '../runtime/index.js';
import { Replay } from '../runtime/recorder/replay.js';
import { openRecorded, type RecordStore } from '../runtime/recorder/store.js';
import { die } from './fail.js';
import { parseSince } from './tap.js';

interface ReplayArgs {
  db: string;
  speed: number;
  since?: string;
  until?: string;
  delay: number;
  host: string;
}

/**
 * `sketch replay --db FILE [--speed X] [--since T] [--until T]`: announces each recorded sketch
 * again as `NAME (replay)` and republishes its items spaced as recorded ÷ X, keeping their
 * sample times. Exit 0 when the data ends or on Ctrl-C; 2 for a bad option; 1 for a database
 * that cannot be read.
 */
export const replayCommand: CommandModule<object, ReplayArgs> = {
  builder: (y) =>
    y
      .option('db', { type: 'string', demandOption: true, requiresArg: true, describe: 'the recorder database (sketch run recorder --db FILE)' })
      .option('speed', { type: 'number', default: 1, requiresArg: true, describe: 'how many times faster than recorded (> 0)' })
      .option('since', { type: 'string', requiresArg: true, describe: 'start at items sampled at or after T (seconds since the epoch or ISO 8601)' })
      .option('until', { type: 'string', requiresArg: true, describe: 'end after items sampled at or before T' })
      .option('delay', { type: 'number', default: 1, requiresArg: true, describe: 'seconds between announcing and the first item, for subscribers to join' })
      .option('host', { type: 'string', default: '0.0.0.0', requiresArg: true, describe: 'interface address to listen on' })
      .check((a) => {
        if (!(a.speed > 0) || !Number.isFinite(a.speed)) throw new Error(`--speed must be a number > 0, got ${a.speed}`);
        if (!(a.delay >= 0)) throw new Error(`--delay must be a number of seconds ≥ 0, got ${a.delay}`);
        for (const f of ['since', 'until'] as const) {
          if (a[f] !== undefined && parseSince(String(a[f])) === undefined) {
            throw new Error(`--${f} must be seconds since the epoch or an ISO 8601 date/time, got ${a[f]}`);
          }
        }
        return true;
      }),
  handler: async (argv) => {
    let store: RecordStore;
    try {
      store = openRecorded(argv.db);
    } catch (err) {
      die(err);
    }
    const discovery = new MdnsDiscovery();
    const replay = new Replay({
      store,
      speed: argv.speed,
      since: argv.since === undefined ? undefined : parseSince(argv.since),
      until: argv.until === undefined ? undefined : parseSince(argv.until),
      discovery,
      host: argv.host,
      startDelayMs: argv.delay * 1000,
    });
    const finish = async (code: number) => {
      await replay.close();
      store.close();
      await discovery.close().catch(() => {});
      process.exit(code);
    };
    process.once('SIGINT', () => void finish(0));
    process.once('SIGTERM', () => void finish(0));
    try {
      const sketches = await replay.start();
      if (sketches === 0) {
        console.error('sketch: nothing recorded in that range: nothing to replay');
        await finish(0);
      }
      console.log(`replaying ${sketches} sketch(es) at ${argv.speed}× speed`);
      const n = await replay.play();
      console.log(`replay done: ${n} item(s)`);
    } catch (err) {
      await replay.close();
      die(err);
    }
    await finish(0);
  },
};
