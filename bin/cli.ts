import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { SketchClass } from '../runtime/index.js';
import { commandName, COMMANDS, invoked } from './commands.js';
import { completeSketch, completing, runSpec } from './completion.js';
import { PACKAGE_VERSION } from './paths.js';
import { serviceSpec } from './service-args.js';
import { helpHint, usageContext, usageLine } from './usage.js';
import { skipHelpCache } from './yargs-internals.js';

/** One line and a non-zero exit for `err` (bin/fail.ts, imported only when needed: it loads the runtime). */
const die = async (err: unknown): Promise<never> => (await import('./fail.js')).die(err);

const args = hideBin(process.argv);
// `sketch run X …`: load X first, so that its own options are known to the parser, --help and
// completion (which, while X is still being typed, gets no error for it: just no options).
let cls: SketchClass | undefined;
const spec = runSpec(args) ?? serviceSpec(args); // `sketch service install X …` too
if (spec !== undefined) {
  const { loadSketch } = await import('./load-sketch.js');
  cls = await loadSketch(spec).catch(completing(args) ? () => undefined : die);
}

const cli = yargs(args).scriptName('sketch').usage('$0 <command> [options]');
// Only the command being run is imported (with its options); the others are listed by name
// and description, which is all `sketch --help` shows. Completion needs them all.
const running = invoked(args);
for (const entry of COMMANDS) {
  if (running === undefined ? completing(args) : commandName(entry) === running) {
    await entry.add(cli, { command: entry.command, describe: entry.describe }, cls);
  } else {
    cli.command(entry.command, entry.describe);
  }
}
cli
  .completion('completion', 'print a bash/zsh completion script: sketch completion >> ~/.bashrc', completeSketch)
  .demandCommand(1, `name a command: ${COMMANDS.map(commandName).join(', ').replace(/, (\w+)$/, ' or $1')}`)
  .strict()
  .help()
  .alias('h', 'help')
  .version(PACKAGE_VERSION)
  .wrap(Math.min(100, process.stdout.columns || 100))
  .locale('en') // bin/usage.ts reads the parser's messages
  // Usage errors: one line, then where the help is, exit 2 (never the whole usage text).
  .fail((message, err) => {
    if (err && !message) return void die(err);
    const context = usageContext(cli, args, cls ? spec : undefined);
    console.error(`sketch: ${usageLine(message, err, context)}`);
    console.error(helpHint(context));
    process.exit(2);
  });

skipHelpCache(cli);
await cli.parseAsync();
