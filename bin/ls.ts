import type { CommandModule } from 'yargs';
import { MdnsDiscovery } from '../runtime/index.js';
import { printable } from '../runtime/text.js';
import { die } from './fail.js';

/**
 * `sketch ls [--timeout s] [--json]`: the sketches answering over mDNS, as a table (NAME,
 * KIND, ADDRESS, PORT, PROTOCOL, STREAMS — the announced stream paths comma-separated, `-`
 * for none) or, with `--json`, an array of `FoundSketch` (with `streams` as an array).
 */
export const lsCommand: CommandModule<object, { timeout: number; json: boolean }> = {
  command: 'ls',
  describe: 'list the sketches announced on the network (DNS-SD _sketch._tcp)',
  builder: (y) =>
    y
      .option('timeout', { type: 'number', default: 1, requiresArg: true, describe: 'seconds to listen for answers' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON array instead of a table' })
      .check((a) => {
        if (!Number.isFinite(a.timeout) || a.timeout < 0) throw new Error(`--timeout must be a number ≥ 0, got ${a.timeout}`);
        return true;
      }),
  handler: async (argv) => {
    const discovery = new MdnsDiscovery();
    try {
      const found = await discovery.browse(argv.timeout * 1000);
      if (argv.json) {
        console.log(JSON.stringify(found, null, 2));
      } else if (found.length === 0) {
        console.log(`no sketches answered within ${argv.timeout} s`);
      } else {
        const rows = [['NAME', 'KIND', 'ADDRESS', 'PORT', 'PROTOCOL', 'STREAMS']].concat(
          // Names and TXT values come from the network: control characters are shown escaped, never sent to the terminal.
          found.map((f) => [f.name, f.kind, f.address, String(f.port), f.protocol, f.streams.length ? f.streams.join(',') : '-'].map((c) => printable(c))),
        );
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
      }
    } catch (err) {
      die(err);
    } finally {
      await discovery.close();
    }
    // A pipe takes 64 KiB at a time: let stdout drain before exiting, or a long list is cut off.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(0);
  },
};
