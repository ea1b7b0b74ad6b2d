import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SketchClass } from '../runtime/index.js';
import { caCommand } from './ca.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { keyCommand } from './key.js';
import { die } from './fail.js';
import { loadSketch } from './load-sketch.js';
import { lsCommand } from './ls.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';
import { tapCommand } from './tap.js';

const args = hideBin(process.argv);
// `sketch run X …`: load X first, so that its own options are known to the parser and --help.
let cls: SketchClass | undefined;
const spec = args[0] === 'run' ? args.slice(1).find((a) => !a.startsWith('-')) : undefined;
if (spec !== undefined) cls = await loadSketch(spec).catch(die);

const cli = yargs(args)
  .scriptName('sketch')
  .usage('$0 <command> [options]')
  .command(runCommand(cls))
  .command(lsCommand)
  .command(sendCommand)
  .command(tapCommand)
  .command(demoCommand)
  .command(keyCommand)
  .command(caCommand)
  .command(exportCommand)
  .command(replayCommand)
  .demandCommand(1, 'name a command: run, ls, send, tap, demo, key, ca, export or replay')
  .strict()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(100, process.stdout.columns || 100))
  .fail((message, err, y) => {
    if (err && !message) die(err);
    console.error(`sketch: ${message ?? err?.message}`);
    console.error('');
    y.showHelp((s: string) => console.error(s));
    process.exit(2);
  });

await cli.parseAsync();
