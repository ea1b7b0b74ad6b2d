import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SketchClass } from '../runtime/index.js';
import { caCommand } from './ca.js';
import { checkCommand } from './check.js';
import { completeSketch, completing, runSpec } from './completion.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { keyCommand } from './key.js';
import { die } from './fail.js';
import { loadSketch } from './load-sketch.js';
import { lsCommand } from './ls.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';
import { serviceCommand, serviceSpec } from './service.js';
import { tapCommand } from './tap.js';
import { helpHint, usageContext, usageLine } from './usage.js';

const args = hideBin(process.argv);
// `sketch run X …`: load X first, so that its own options are known to the parser, --help and
// completion (which, while X is still being typed, gets no error for it: just no options).
let cls: SketchClass | undefined;
const spec = runSpec(args) ?? serviceSpec(args); // `sketch service install X …` too
if (spec !== undefined) cls = await loadSketch(spec).catch(completing(args) ? () => undefined : die);

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
  .command(checkCommand)
  .command(serviceCommand(cls))
  .completion('completion', 'print a bash/zsh completion script: sketch completion >> ~/.bashrc', completeSketch)
  .demandCommand(1, 'name a command: run, ls, send, tap, demo, key, ca, export, replay, check or service')
  .strict()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(100, process.stdout.columns || 100))
  .locale('en') // bin/usage.ts reads the parser's messages
  // Usage errors: one line, then where the help is, exit 2 (never the whole usage text).
  .fail((message, err) => {
    if (err && !message) die(err);
    const context = usageContext(cli, args, cls ? spec : undefined);
    console.error(`sketch: ${usageLine(message, err, context)}`);
    console.error(helpHint(context));
    process.exit(2);
  });

await cli.parseAsync();
